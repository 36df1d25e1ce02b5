// Package fstest is the command line of fstest, the counterpart of
// ZODB 6.3's ZODB/scripts/fstest.py: Main parses the arguments as the Python script
// does, runs the check or copy in pkg/filestorage, and returns the exit
// status, so cmd/fstest stays one line and the tests drive the same code.
package fstest
