// Package runzeo is the runzeo program: command line and zeo.conf
// handling, storages, logging, pid file, signals, and the listeners of the
// ZEO server (ZEO 6.0's runzeo.py: ZEOOptions, ZEOServer). cmd/runzeo is a thin main around Main.
package runzeo
