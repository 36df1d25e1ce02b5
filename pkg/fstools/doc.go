// Package fstools holds the command lines of zdkit's FileStorage tools,
// the counterparts of ZODB 6.3's scripts: fstest (ZODB/scripts/fstest.py),
// fsdump (ZODB/FileStorage/fsdump.py), fsrefs (ZODB/scripts/fsrefs.py) and
// fsrecover (ZODB/fsrecover.py). Each function parses its arguments as the
// Python script does, calls pkg/filestorage, and returns the exit status,
// so the mains in cmd/ stay a line long and the tests drive the same code.
package fstools
