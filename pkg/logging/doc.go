// Package logging is zdkit's event log: the one logging setup shared by
// zdrun and runzeo, configured by a ZConfig <eventlog> section and writing
// lines byte-for-byte like Python's logging module under ZConfig.
//
// Records are made through zerolog (Log.Zerolog, or the Python-style
// Logger wrapper with Infof, Warningf, Criticalf and the Zope levels
// BLATHER and TRACE).  The zerolog writer behind them decodes each event
// and renders it with every handler's Python %-style format, so a zdkit
// log file reads exactly like one written by zdaemon or ZEO:
//
//	------
//	2026-11-25T06:16:04 INFO root daemon manager started
//
// (ZConfig's default format "------\n%(asctime)s %(levelname)s %(name)s
// %(message)s" with dateformat "%Y-%m-%dT%H:%M:%S", local time).  Every
// LogRecord attribute ZConfig accepts can be used in a format, with
// Python's conversion, flag, width and precision rules; formats Python
// would refuse are refused at configuration time with a *FormatError.
//
// Config and HandlerConfig describe an event log; FromNode builds a Config
// from a schema-checked <eventlog> section of pkg/zconfig.  Open opens it;
// Log.Reopen reopens the files for log rotation (zdctl logreopen, runzeo's
// SIGUSR2) without losing a line: the new file is opened before the old
// one is closed, under the handler's lock.
//
// What is not offered: ZConfig's size and time based rotation (max-size,
// when), <syslog>, <http-logger> and <email-notifier>; configuring them
// is an error that says so, never a silent no-op.  zdkit relies on an
// external logrotate plus Reopen, as zdaemon's documentation recommends.
package logging
