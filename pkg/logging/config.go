package logging

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// ZConfig's defaults for a <logfile> handler (ZConfig/components/logger/
// handlers.xml).  DefaultFormat is shown here after ZConfig's escape
// expansion: the configuration text is `------\n%(asctime)s ...` with a
// backslash-n, and the record comes out on two lines, as zdrun.log and
// zeo.log have always looked.
const (
	DefaultFormat     = "------\n%(asctime)s %(levelname)s %(name)s %(message)s"
	DefaultDateFormat = "%Y-%m-%dT%H:%M:%S"
)

// FormatJSON, as a handler's format ("format json" in a <logfile>), writes
// each record as one JSON object on one line: zerolog's own event
// ("level", "message", the "logger" name, "levelno" and any fields the
// caller added, kept as JSON values instead of being appended to the
// message) with a "time" field in front (RFC 3339, local time,
// milliseconds; dateformat does not apply).  The word cannot clash with a
// Python format: one without a %(name) field is refused anyway.
const FormatJSON = "json"

// JSONTimeFormat is the layout of the "time" field of FormatJSON records.
const JSONTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Stream paths: a <logfile> whose path is one of these writes to the
// process's standard output or error instead of a file (ZConfig's
// FileHandlerFactory compares the path with these exact upper-case words).
const (
	Stdout = "STDOUT"
	Stderr = "STDERR"
)

// Config is an event log: the root logger's level and its handlers, which
// is what ZConfig's <eventlog> section configures.
type Config struct {
	// Level is the root logger's level: records below it are dropped
	// before any handler sees them.  ZConfig's default is INFO; the zero
	// value (NOTSET) passes everything, as for a Python root logger set
	// to NOTSET.
	Level    Level
	Handlers []HandlerConfig
}

// HandlerConfig is one <logfile>.
type HandlerConfig struct {
	// Path is a file name (made absolute when the log is opened, as
	// logging.FileHandler does with os.path.abspath, so that Reopen
	// after a chdir still finds the same file), or Stdout / Stderr.
	Path string
	// Writer, when not nil, is used instead of Path (for embedding and
	// tests); Reopen leaves it alone.
	Writer io.Writer
	// Format is a Python logging %-style format with the escapes already
	// expanded, or FormatJSON.  "" means Python's own default,
	// "%(message)s"; ZConfig's default is DefaultFormat.
	Format string
	// DateFormat is the time.strftime format of %(asctime)s.  "" means
	// Python's own default, "2026-01-02 15:04:05,123"; ZConfig's default
	// is DefaultDateFormat.
	DateFormat string
	// Level is the handler's own threshold; NOTSET (the default) passes
	// whatever the root level let through.
	Level Level
}

// DefaultConfig is what runzeo and zdrun use without an <eventlog>: INFO
// and above to standard error in ZConfig's default two-line format (ZEO's
// runzeo configures exactly this when the configuration has no eventlog).
func DefaultConfig() Config {
	return Config{
		Level: LevelInfo,
		Handlers: []HandlerConfig{{
			Path:       Stderr,
			Format:     DefaultFormat,
			DateFormat: DefaultDateFormat,
		}},
	}
}

// handlerTypes are the handler sections ZConfig's logger component
// offers.  Only <logfile> is implemented; the others are refused with a
// clear message rather than dropped, so no configured log goes missing
// without a word.
var handlerTypes = []string{"logfile", "syslog", "http-logger", "email-notifier", "win32-eventlog"}

// FromNode builds a Config from a schema-checked <eventlog> section (the
// top-level one, or the one inside <runner> for zdrun).  It reads the
// values as written (Value.Raw) and converts them itself, so it works
// with any schema that uses ZConfig's key names: level in <eventlog>,
// and path, format, dateformat, level, max-size, old-files, when,
// interval, encoding, delay in <logfile>.  Missing keys take ZConfig's
// defaults.  Errors are *zconfig.Error values naming the file, line, key
// and value, and wrap this package's sentinels (ErrLevel, ErrFormat,
// ErrConfig).
func FromNode(n *zconfig.Node) (Config, error) {
	if n == nil {
		return Config{}, fmt.Errorf("%w: no <eventlog> section", ErrConfig)
	}
	cfg := Config{Level: LevelInfo}
	if v, ok := n.Value("level"); ok {
		l, err := ParseLevel(v.Raw)
		if err != nil {
			return Config{}, valueError(n, "level", v, err)
		}
		cfg.Level = l
	}
	for _, c := range n.Sections(handlerTypes...) {
		if c.Type != "logfile" {
			return Config{}, &zconfig.Error{
				Kind: zconfig.ErrUnknownSection, Pos: c.Pos, Key: c.Type,
				Msg: fmt.Sprintf("<%s> log handlers are not supported by zdkit; use <logfile>", c.Type),
				Err: ErrConfig,
			}
		}
		h, err := handlerFromNode(c)
		if err != nil {
			return Config{}, err
		}
		cfg.Handlers = append(cfg.Handlers, h)
	}
	return cfg, nil
}

func handlerFromNode(n *zconfig.Node) (HandlerConfig, error) {
	h := HandlerConfig{Format: DefaultFormat, DateFormat: DefaultDateFormat}
	pv, ok := n.Value("path")
	if !ok || pv.Raw == "" {
		return h, &zconfig.Error{
			Kind: zconfig.ErrMissing, Pos: n.Pos, Key: "path",
			Msg: "no values for 'path'; 1 required in <logfile> section",
			Err: ErrConfig,
		}
	}
	h.Path = pv.Raw
	if v, ok := n.Value("format"); ok && strings.EqualFold(strings.TrimSpace(v.Raw), FormatJSON) {
		h.Format = FormatJSON
	} else if ok {
		f := expandEscapes(v.Raw)
		if f == "" {
			// logging.Formatter treats an empty fmt like None.
			f = "%(message)s"
		}
		if _, err := parseFormat(f); err != nil {
			return h, valueError(n, "format", v, err)
		}
		h.Format = f
	}
	if v, ok := n.Value("dateformat"); ok {
		h.DateFormat = v.Raw
	}
	if v, ok := n.Value("level"); ok {
		l, err := ParseLevel(v.Raw)
		if err != nil {
			return h, valueError(n, "level", v, err)
		}
		h.Level = l
	}
	// A Python formatter class or ZConfig's arbitrary fields cannot be
	// honoured without Python; say so instead of logging differently.
	if v, ok := n.Value("formatter"); ok && !v.Default && v.Raw != "" {
		return h, valueError(n, "formatter", v, fmt.Errorf("%w: Python formatter classes are not supported", ErrConfig))
	}
	if v, ok := n.Value("arbitrary-fields"); ok && !v.Default && meaningful("arbitrary-fields", v.Raw) {
		return h, valueError(n, "arbitrary-fields", v, fmt.Errorf("%w: arbitrary fields are not supported", ErrConfig))
	}
	if v, ok := n.Value("style"); ok && !strings.EqualFold(v.Raw, "classic") {
		return h, valueError(n, "style", v, fmt.Errorf("%w: only the classic %%-style is supported", ErrConfig))
	}
	// ZConfig's FileHandlerFactory: a stream cannot rotate, be delayed or
	// have an encoding.  Size and time rotation are not offered by zdkit:
	// zdrun and runzeo reopen their logs on SIGUSR2 / logreopen for an
	// external logrotate, which is the way zdaemon's own docs recommend.
	for _, key := range []string{"max-size", "old-files", "when", "interval", "encoding", "delay"} {
		v, ok := n.Value(key)
		if !ok || v.Default || !meaningful(key, v.Raw) {
			continue
		}
		if h.Path == Stdout || h.Path == Stderr {
			return h, valueError(n, key, v, fmt.Errorf("%w: cannot use %s with %s", ErrConfig, key, h.Path))
		}
		if key == "encoding" && isUTF8(v.Raw) {
			continue // what zdkit writes anyway
		}
		if key == "delay" {
			continue // opening at start-up instead of at first write only moves an error earlier
		}
		return h, valueError(n, key, v, fmt.Errorf("%w: %s is not supported; rotate with logrotate and logreopen (SIGUSR2)", ErrConfig, key))
	}
	return h, nil
}

// meaningful reports whether an explicitly given value asks for something
// (ZConfig tests these keys for truth: 0, "" and false mean unset).
func meaningful(key, raw string) bool {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "", "0", "false", "no", "off":
		return false
	}
	return true
}

func isUTF8(s string) bool {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-")) {
	case "utf-8", "utf8", "ascii", "us-ascii":
		return true
	}
	return false
}

func valueError(n *zconfig.Node, key string, v zconfig.Value, err error) error {
	pos := v.Pos
	if pos == (zconfig.Pos{}) {
		pos = n.Pos
	}
	return &zconfig.Error{
		Kind: zconfig.ErrBadValue, Pos: pos, Key: key, Value: v.Raw, Err: err,
		Msg: fmt.Sprintf("%s for key %s in <%s>", err, pyrepr.Str(key), n.Type),
	}
}

// absPath resolves a handler path once, at open time.
func absPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w: log file %q: %w", ErrConfig, p, err)
	}
	return a, nil
}
