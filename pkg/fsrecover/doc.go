// Package fsrecover is the command line of fsrecover, the counterpart of
// ZODB 6.3's ZODB/fsrecover.py: Main parses the arguments as the Python script
// does, runs the check or copy in pkg/filestorage, and returns the exit
// status, so cmd/fsrecover stays one line and the tests drive the same code.
package fsrecover
