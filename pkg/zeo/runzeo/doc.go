// Package runzeo is the runzeo program: command line and zeo.conf
// handling, storages, logging, pid file, signals, and the listeners of the
// ZEO server (zeo-protocol.md §6). cmd/runzeo is a thin main around Main.
package runzeo
