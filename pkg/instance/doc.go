// Package instance creates a ZEO instance home, the work of mkzeoinst
// (ZODB3's ZEO/mkzeoinst.py; docs/mkzeoinst.md): the directories etc, var,
// log and bin, the configuration files etc/zeo.conf (runzeo) and
// etc/zeoctl.conf (zdctl and zdrun), the scripts bin/zeoctl (an init
// script for chkconfig and LSB) and bin/runzeo, and with --systemd a unit
// file etc/zeo.service.  The file texts live in the templates package.
//
// It behaves like the 2003 tool: every message, the order of the work,
// never overwriting a file whose trimmed content differs (a warning
// instead), silence when it is equal, and "All done.".  What is new is
// written down where it happens: HOST:PORT and Unix socket addresses,
// --force and --systemd, the zdkit programs looked up beside the
// mkzeoinst executable before $PATH, and every lookup done before the
// disk is touched (the Python tool failed half way, after making the
// directories).
package instance
