package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Field names this package adds to zerolog events, besides zerolog's own
// level and message fields.  They carry what zerolog's level type cannot:
// the exact Python level number (BLATHER is 15, "Level 7" exists) and the
// logger name ("ZEO.StorageServer", "root").
const (
	NameField     = "logger"
	LevelnoField  = "levelno"
	pathnameField = "pathname"
	linenoField   = "lineno"
	funcNameField = "funcName"
)

// RootName is the name of Python's root logger, which is what zdaemon's
// zdrun logs through ("... INFO root daemon manager started").
const RootName = "root"

// Log is an opened event log: the root level and the handlers of one
// <eventlog>.  Records reach it through zerolog loggers (Zerolog, or the
// Python-style Logger wrapper); each record is formatted once per handler
// in that handler's Python format and written with a single Write call,
// so concurrent records never interleave inside a line.  A Log is safe for
// concurrent use.
type Log struct {
	level      Level
	handlers   []*handler
	start      time.Time
	pid        int
	usesCaller bool
	now        func() time.Time // the record clock; tests pin it

	mu     sync.Mutex // serialises Reopen and Close
	closed bool
}

type handler struct {
	format  *pyFormat
	json    bool // FormatJSON: zerolog's event, not the Python format
	dateFmt string
	level   Level
	path    string // absolute file path; "" for streams and caller writers
	stderr  bool   // writes to the process's stderr (no error report loop)
	rot     *rotator
	sys     *syslogSink // a <syslog> handler; w is nil then

	mu  sync.Mutex // guards w, f, buf, rot and sys
	w   io.Writer
	f   *os.File // the file we own, or nil
	buf []byte
}

// Open opens every handler of cfg.  Files are opened for appending and
// created with mode 0666 minus the umask, as Python's logging.FileHandler
// does ("a" mode).  With no handlers the log behaves like Python's
// logging.lastResort: WARNING and above go to standard error as the bare
// message (that is where zdrun's warnings end up without an eventlog).
func Open(cfg Config) (*Log, error) {
	l := &Log{level: cfg.Level, start: time.Now(), pid: os.Getpid(), now: time.Now}
	hcs := cfg.Handlers
	if len(hcs) == 0 {
		hcs = []HandlerConfig{{Path: Stderr, Level: LevelWarning}}
	}
	for i, hc := range hcs {
		h, err := openHandler(hc)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("logging: handler %d: %w", i+1, err)
		}
		l.handlers = append(l.handlers, h)
		if h.format.usesCaller {
			l.usesCaller = true
		}
	}
	return l, nil
}

func openHandler(hc HandlerConfig) (*handler, error) {
	f := hc.Format
	if f == "" || f == FormatJSON {
		// A JSON handler keeps a format only so that the flags it
		// carries (usesCaller, usesTime) read as false.
		f = "%(message)s"
	}
	pf, err := parseFormat(f)
	if err != nil {
		return nil, err
	}
	h := &handler{format: pf, dateFmt: hc.DateFormat, level: hc.Level, json: hc.Format == FormatJSON}
	switch {
	case hc.Syslog != nil:
		sink, err := dialSyslog(*hc.Syslog)
		if err != nil {
			return nil, err
		}
		h.sys = sink
	case hc.Writer != nil:
		h.w = hc.Writer
	case hc.Path == Stdout:
		h.w = os.Stdout
	case hc.Path == Stderr:
		h.w, h.stderr = os.Stderr, true
	case hc.Path == "":
		return nil, fmt.Errorf("%w: a handler needs a path, %s or %s", ErrConfig, Stdout, Stderr)
	default:
		p, err := absPath(hc.Path)
		if err != nil {
			return nil, err
		}
		if hc.Rotation.active() {
			if h.rot, err = newRotator(hc.Rotation, p, time.Now()); err != nil {
				return nil, err
			}
		}
		file, err := openLogFile(p)
		if err != nil {
			return nil, err
		}
		h.path, h.f, h.w = p, file, file
	}
	return h, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return nil, fmt.Errorf("%w: opening log file: %w", ErrConfig, err)
	}
	return f, nil
}

// Level returns the root level.
func (l *Log) Level() Level { return l.level }

// Paths returns the absolute paths of the log files, in handler order
// (zdctl's logtail and the docs point users at them).
func (l *Log) Paths() []string {
	var out []string
	for _, h := range l.handlers {
		if h.path != "" {
			out = append(out, h.path)
		}
	}
	return out
}

// Enabled reports whether a record at level would be written by at least
// one handler, so callers can skip building expensive messages.
func (l *Log) Enabled(level Level) bool {
	if level < l.level {
		return false
	}
	for _, h := range l.handlers {
		if level >= h.level {
			return true
		}
	}
	return false
}

// Reopen closes and reopens every log file, for log rotation: zdrun's
// "logreopen"/"reopen_transcript" and runzeo's SIGUSR2 (ZConfig's
// loghandler.reopenFiles).  For each file the new descriptor is opened
// before the old one is closed, under the handler's lock, so a record
// written during Reopen lands whole in either the old file (now renamed
// by logrotate) or the new one; none is lost.  If a file cannot be
// reopened its old descriptor stays in use and the error is returned.
func (l *Log) Reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	var errs []error
	for _, h := range l.handlers {
		if h.path == "" {
			continue
		}
		if err := h.reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (h *handler) reopen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	nf, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("logging: reopening %s (still writing to the old file): %w", h.path, err)
	}
	old := h.f
	h.f, h.w = nf, nf
	if old != nil {
		if err := old.Close(); err != nil {
			return fmt.Errorf("closing the old %s: %w", h.path, err)
		}
	}
	return nil
}

// rollover rotates the handler's file and opens a new one at its path;
// h.mu is held. The old descriptor is closed only once the new file is
// open, so a failure leaves the handler writing where it was.
func (h *handler) rollover(t time.Time) error {
	if err := h.rot.rotate(h.path, t); err != nil {
		return err
	}
	nf, err := openLogFile(h.path)
	if err != nil {
		return err
	}
	old := h.f
	h.f, h.w = nf, nf
	return old.Close()
}

// Close closes the log files.  Records logged afterwards are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, h := range l.handlers {
		h.mu.Lock()
		if h.f != nil {
			errs = append(errs, h.f.Close())
		}
		if h.sys != nil {
			errs = append(errs, h.sys.close())
		}
		h.f, h.w, h.sys = nil, nil, nil
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

// emit formats r for every handler whose level it reaches.
func (l *Log) emit(r *record) {
	if r.level < l.level {
		return
	}
	for _, h := range l.handlers {
		if r.level < h.level {
			continue
		}
		h.write(r)
	}
}

func (h *handler) write(r *record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sys != nil {
		buf := h.render(h.buf[:0], r)
		h.buf = buf[:0]
		if err := h.sys.send(r.level, buf[:len(buf)-1]); err != nil {
			fmt.Fprintf(os.Stderr, "--- Logging error ---\n%v\n", err)
		}
		return
	}
	if h.w == nil {
		return
	}
	buf := h.render(h.buf[:0], r)
	if h.rot != nil && h.f != nil && h.rot.due(h.f, h.path, len(buf), r.time) {
		if err := h.rollover(r.time); err != nil {
			// Python's handleError: report and go on writing to the
			// file we have, so no record is lost.
			fmt.Fprintf(os.Stderr, "--- Logging error ---\n%v\n", err)
		}
	}
	_, err := h.w.Write(buf)
	if cap(buf) <= 64<<10 {
		h.buf = buf
	}
	if err != nil && !h.stderr {
		// Python's Handler.handleError: report on stderr, carry on.
		fmt.Fprintf(os.Stderr, "--- Logging error ---\n%v\n", err)
	}
}

// render appends the record as the handler formats it, plus the newline
// that logging.StreamHandler.terminator adds.
func (h *handler) render(buf []byte, r *record) []byte {
	if h.json {
		return renderJSON(buf, r)
	}
	var asctime string
	if h.format.usesTime {
		asctime = formatTime(r.time, h.dateFmt)
	}
	buf = h.format.render(buf, r, asctime)
	return append(buf, '\n')
}

// formatTime is logging.Formatter.formatTime: strftime(datefmt) when a
// date format is given, else "%Y-%m-%d %H:%M:%S" plus ",mmm".
func formatTime(t time.Time, datefmt string) string {
	if datefmt != "" {
		return string(strftime(nil, datefmt, t))
	}
	b := strftime(make([]byte, 0, 24), "%Y-%m-%d %H:%M:%S", t)
	ms := t.Nanosecond() / 1e6
	b = append(b, ',', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return string(b)
}

// Zerolog returns a zerolog logger whose events go to this log under the
// given logger name.  Its zerolog level is the nearest one at or below the
// root level; the exact Python threshold is applied when the event is
// written.  Events may carry extra fields; they are appended to the
// message as " key=value" since a Python format has no place for them.
func (l *Log) Zerolog(name string) zerolog.Logger {
	return zerolog.New(sink{l}).Level(l.level.zerologLevel()).With().Str(NameField, name).Logger()
}

// Logger returns a Python-style logger with the given name ("root",
// "zdrun", "ZEO.StorageServer"), built on Zerolog(name).
func (l *Log) Logger(name string) *Logger {
	return &Logger{log: l, name: name, zl: l.Zerolog(name)}
}

// sink is the zerolog writer: it decodes each JSON event back into a
// record and hands it to the handlers.
type sink struct{ l *Log }

func (s sink) Write(p []byte) (int, error) {
	r := s.l.decode(p)
	s.l.emit(&r)
	return len(p), nil
}

func (s sink) WriteLevel(_ zerolog.Level, p []byte) (int, error) { return s.Write(p) }

// Logger is a named logger with Python logging's levels and printf-style
// methods.  It is a thin layer over a zerolog.Logger, which Zerolog
// returns for code that prefers zerolog's structured API.
type Logger struct {
	log  *Log
	name string
	zl   zerolog.Logger
}

// Name returns the logger name.
func (g *Logger) Name() string { return g.name }

// Zerolog returns the underlying zerolog logger.
func (g *Logger) Zerolog() zerolog.Logger { return g.zl }

// Enabled reports whether a record at level would be written anywhere.
func (g *Logger) Enabled(level Level) bool { return g.log.Enabled(level) }

// Log writes msg at level.
func (g *Logger) Log(level Level, msg string) { g.logDepth(level, msg, 2) }

// Logf writes a printf-formatted message at level.
func (g *Logger) Logf(level Level, format string, args ...any) {
	if !g.log.Enabled(level) {
		return
	}
	g.logDepth(level, fmt.Sprintf(format, args...), 2)
}

func (g *Logger) logDepth(level Level, msg string, depth int) {
	if !g.log.Enabled(level) {
		return
	}
	ev := g.zl.WithLevel(level.zerologLevel())
	if ev == nil {
		return
	}
	ev = ev.Int(LevelnoField, int(level))
	if g.log.usesCaller {
		if pc, file, line, ok := runtime.Caller(depth); ok {
			fn := ""
			if f := runtime.FuncForPC(pc); f != nil {
				fn = f.Name()
				if i := strings.LastIndexByte(fn, '.'); i >= 0 {
					fn = fn[i+1:]
				}
			}
			ev = ev.Str(pathnameField, file).Int(linenoField, line).Str(funcNameField, fn)
		}
	}
	ev.Msg(msg)
}

func (g *Logger) logf(level Level, format string, args []any) {
	if !g.log.Enabled(level) {
		return
	}
	g.logDepth(level, fmt.Sprintf(format, args...), 3)
}

// Tracef logs at TRACE (5), Zope's level below DEBUG.
func (g *Logger) Tracef(format string, args ...any) { g.logf(LevelTrace, format, args) }

// Debugf logs at DEBUG.
func (g *Logger) Debugf(format string, args ...any) { g.logf(LevelDebug, format, args) }

// Blatherf logs at BLATHER (15), Zope's level between DEBUG and INFO that
// ZEO uses for chatty server messages.
func (g *Logger) Blatherf(format string, args ...any) { g.logf(LevelBlather, format, args) }

// Infof logs at INFO.
func (g *Logger) Infof(format string, args ...any) { g.logf(LevelInfo, format, args) }

// Warningf logs at WARNING.
func (g *Logger) Warningf(format string, args ...any) { g.logf(LevelWarning, format, args) }

// Errorf logs at ERROR.
func (g *Logger) Errorf(format string, args ...any) { g.logf(LevelError, format, args) }

// Criticalf logs at CRITICAL (zdrun's "restarting too frequently; quit").
// Unlike zerolog's Fatal it does not exit.
func (g *Logger) Criticalf(format string, args ...any) { g.logf(LevelCritical, format, args) }
