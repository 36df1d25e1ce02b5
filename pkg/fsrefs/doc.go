// Package fsrefs is the command line of fsrefs, the counterpart of
// ZODB 6.3's ZODB/scripts/fsrefs.py: Main parses the arguments as the Python script
// does, runs the check or copy in pkg/filestorage, and returns the exit
// status, so cmd/fsrefs stays one line and the tests drive the same code.
package fsrefs
