// Package fsdump is the command line of fsdump, the counterpart of
// ZODB 6.3's ZODB/FileStorage/fsdump.py: Main parses the arguments as the Python script
// does, runs the check or copy in pkg/filestorage, and returns the exit
// status, so cmd/fsdump stays one line and the tests drive the same code.
package fsdump
