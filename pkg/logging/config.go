package logging

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
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
	// Rotation rotates a file handler by size or time (max-size,
	// old-files, when, interval).
	Rotation Rotation
	// Syslog, when not nil, makes this a <syslog> handler; Path and
	// Writer are then unused.
	Syslog *SyslogConfig
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
// offers.  <logfile> and <syslog> are implemented; the others are refused
// with a clear message rather than dropped, so no configured log goes
// missing without a word.
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
		var h HandlerConfig
		var err error
		switch c.Type {
		case "logfile":
			h, err = handlerFromNode(c)
		case "syslog":
			h, err = syslogFromNode(c)
		default:
			return Config{}, &zconfig.Error{
				Kind: zconfig.ErrUnknownSection, Pos: c.Pos, Key: c.Type,
				Msg: fmt.Sprintf("<%s> log handlers are not supported by zdkit; use <logfile> or <syslog>", c.Type),
				Err: ErrConfig,
			}
		}
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
	if err := baseHandlerFromNode(n, &h); err != nil {
		return h, err
	}
	if err := rotationFromNode(n, &h); err != nil {
		return h, err
	}
	return h, nil
}

// baseHandlerFromNode reads the keys every ZConfig handler has (its
// base-log-handler): format, dateformat, level, style, formatter,
// arbitrary-fields.
func baseHandlerFromNode(n *zconfig.Node, h *HandlerConfig) error {
	if v, ok := n.Value("format"); ok && strings.EqualFold(strings.TrimSpace(v.Raw), FormatJSON) {
		h.Format = FormatJSON
	} else if ok {
		f := expandEscapes(v.Raw)
		if f == "" {
			// logging.Formatter treats an empty fmt like None.
			f = "%(message)s"
		}
		if _, err := parseFormat(f); err != nil {
			return valueError(n, "format", v, err)
		}
		h.Format = f
	}
	if v, ok := n.Value("dateformat"); ok {
		h.DateFormat = v.Raw
	}
	if v, ok := n.Value("level"); ok {
		l, err := ParseLevel(v.Raw)
		if err != nil {
			return valueError(n, "level", v, err)
		}
		h.Level = l
	}
	// A Python formatter class or ZConfig's arbitrary fields cannot be
	// honoured without Python; say so instead of logging differently.
	if v, ok := n.Value("formatter"); ok && !v.Default && v.Raw != "" {
		return valueError(n, "formatter", v, fmt.Errorf("%w: Python formatter classes are not supported", ErrConfig))
	}
	if v, ok := n.Value("arbitrary-fields"); ok && !v.Default && meaningful("arbitrary-fields", v.Raw) {
		return valueError(n, "arbitrary-fields", v, fmt.Errorf("%w: arbitrary fields are not supported", ErrConfig))
	}
	if v, ok := n.Value("style"); ok && !strings.EqualFold(v.Raw, "classic") {
		return valueError(n, "style", v, fmt.Errorf("%w: only the classic %%-style is supported", ErrConfig))
	}
	return nil
}

// rotationFromNode applies ZConfig 4.3's FileHandlerFactory rules to
// max-size, old-files, when, interval, encoding and delay, with its
// messages.
func rotationFromNode(n *zconfig.Node, h *HandlerConfig) error {
	given := func(key string) (zconfig.Value, bool) {
		v, ok := n.Value(key)
		return v, ok && !v.Default && meaningful(key, v.Raw)
	}
	maxSize, hasMax := given("max-size")
	oldFiles, hasOld := given("old-files")
	when, hasWhen := given("when")
	interval, hasInterval := given("interval")
	if h.Path == Stdout || h.Path == Stderr {
		// FileHandlerFactory.check_std_stream.
		for _, k := range []struct {
			v   zconfig.Value
			ok  bool
			key string
		}{{maxSize, hasMax, "max-size"}, {oldFiles, hasOld, "old-files"}, {when, hasWhen, "when"}} {
			if k.ok {
				return valueError(n, k.key, k.v, fmt.Errorf("%w: cannot rotate %s", ErrConfig, h.Path))
			}
		}
		if v, ok := given("delay"); ok {
			return valueError(n, "delay", v, fmt.Errorf("%w: cannot delay opening %s", ErrConfig, h.Path))
		}
		if v, ok := given("encoding"); ok {
			return valueError(n, "encoding", v, fmt.Errorf("%w: cannot specify encoding for %s", ErrConfig, h.Path))
		}
		return nil
	}
	if v, ok := given("encoding"); ok && !isUTF8(v.Raw) {
		return valueError(n, "encoding", v, fmt.Errorf("%w: only UTF-8 is written", ErrConfig))
	}
	// delay: opening at start-up instead of at the first record only
	// moves an error earlier, so it is accepted.
	if !hasMax && !hasOld && !hasWhen && !hasInterval {
		return nil
	}
	if !hasOld {
		at, v := "max-size", maxSize
		switch {
		case hasWhen:
			at, v = "when", when
		case hasInterval:
			at, v = "interval", interval
		}
		return valueError(n, at, v, fmt.Errorf("%w: old-files must be set for log rotation", ErrConfig))
	}
	r := Rotation{OldFiles: typedInt(oldFiles)}
	switch {
	case hasWhen:
		if hasMax {
			return valueError(n, "max-size", maxSize, fmt.Errorf("%w: can't set *both* max_bytes and when", ErrConfig))
		}
		r.When, r.Interval = when.Raw, typedInt(interval)
		if _, err := parseWhen(r.When, r.Interval); err != nil {
			return valueError(n, "when", when, err)
		}
	case hasMax:
		r.MaxSize = typedInt64(maxSize)
	default:
		return valueError(n, "old-files", oldFiles, fmt.Errorf("%w: max-bytes or when must be set for log rotation", ErrConfig))
	}
	h.Rotation = r
	return nil
}

// syslogFromNode builds a <syslog> handler: ZConfig's base handler keys
// plus facility (default user) and address (default localhost:514; a
// path is a Unix socket).
func syslogFromNode(n *zconfig.Node) (HandlerConfig, error) {
	h := HandlerConfig{Format: "%(name)s %(message)s", DateFormat: DefaultDateFormat}
	if err := baseHandlerFromNode(n, &h); err != nil {
		return h, err
	}
	sc := &SyslogConfig{Network: "udp", Address: "localhost:514", Facility: "user"}
	if v, ok := n.Value("facility"); ok {
		f, err := ParseFacility(v.Raw)
		if err != nil {
			return h, valueError(n, "facility", v, err)
		}
		sc.Facility = f
	}
	if v, ok := n.Value("address"); ok {
		a, isAddr := v.Typed.(zconfig.Address)
		switch {
		case isAddr && a.Network == "unix":
			sc.Network, sc.Address = "unix", a.Path
		case isAddr:
			host := a.Host
			if host == "" {
				host = "localhost"
			}
			port := a.Port
			if !a.HasPort {
				port = 514
			}
			sc.Address = net.JoinHostPort(host, strconv.Itoa(port))
		default:
			return h, valueError(n, "address", v, fmt.Errorf("%w: not a socket address", ErrConfig))
		}
	}
	h.Syslog = sc
	return h, nil
}

func typedInt(v zconfig.Value) int {
	switch x := v.Typed.(type) {
	case int:
		return x
	case int64:
		return int(x)
	}
	i, _ := strconv.Atoi(strings.TrimSpace(v.Raw))
	return i
}

func typedInt64(v zconfig.Value) int64 {
	if x, ok := v.Typed.(int64); ok {
		return x
	}
	return int64(typedInt(v))
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
