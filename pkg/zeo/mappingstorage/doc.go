// Package mappingstorage is an in-memory storage for the ZEO server,
// the counterpart of ZODB's MappingStorage (`<mappingstorage>` in
// zeo.conf, ZODB 6.3 ZODB/MappingStorage.py): every revision is kept in memory until
// pack, there is no undo, and nothing survives a restart.
package mappingstorage
