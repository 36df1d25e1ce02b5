package storage

// Logging is implemented by storages that log as ZODB's storages do
// through Python logging (FileStorage's "Ignoring index for PATH" when it
// rebuilds an index at open, for one). The server hands over its log
// hook; records made before that (while opening) are delivered at once,
// so they come out before the server's "created ... with storages" line
// as in Python. level is Python's logging level (30 = WARNING).
type Logging interface {
	SetLog(log func(level int, name, msg string))
}
