package logging

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// Level is a Python logging level number.  The numbers, not Go-style
// enumerations, are kept because ZConfig accepts any integer 0..50 as a level
// and Python prints unnamed ones as "Level N".
type Level int

// The levels ZConfig's logging-level datatype knows by name
// (ZConfig/components/logger/datatypes.py).  BLATHER and TRACE are the Zope
// additions; LevelAll is ZConfig's "all" (1).
const (
	LevelNotSet   Level = 0
	LevelAll      Level = 1
	LevelTrace    Level = 5
	LevelDebug    Level = 10
	LevelBlather  Level = 15
	LevelInfo     Level = 20
	LevelWarning  Level = 30
	LevelError    Level = 40
	LevelCritical Level = 50
)

// levelNames maps the lower-case names ZConfig accepts to their numbers.
var levelNames = map[string]Level{
	"critical": LevelCritical,
	"fatal":    LevelCritical,
	"error":    LevelError,
	"warn":     LevelWarning,
	"warning":  LevelWarning,
	"info":     LevelInfo,
	"blather":  LevelBlather,
	"debug":    LevelDebug,
	"trace":    LevelTrace,
	"all":      LevelAll,
	"notset":   LevelNotSet,
}

// ParseLevel converts a configuration value the way ZConfig's logging_level
// datatype does: a level name in any case, or an integer in 0..50.
func ParseLevel(s string) (Level, error) {
	// ZConfig lower-cases str(value); the value arrives already trimmed by
	// the config parser, and Python's int() also tolerates surrounding
	// blanks, so trim here too.
	t := strings.ToLower(strings.TrimSpace(s))
	if l, ok := levelNames[t]; ok {
		return l, nil
	}
	// Python's int() accepts a sign and "_" digit separators.
	n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), 10, 64)
	if err != nil || strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		return 0, fmt.Errorf("%w: %q is neither a level name nor an integer", ErrLevel, s)
	}
	if n < 0 || n > 50 {
		// ZConfig: "log level not in range: N".
		return 0, fmt.Errorf("%w: %q not in range 0..50", ErrLevel, s)
	}
	return Level(n), nil
}

// String returns the name Python logging prints for %(levelname)s: the
// standard names plus the Zope BLATHER and TRACE (which Zope registers with
// logging.addLevelName), "NOTSET" for 0 and "Level N" for anything else, as
// logging.getLevelName does.
func (l Level) String() string {
	switch l {
	case LevelCritical:
		return "CRITICAL"
	case LevelError:
		return "ERROR"
	case LevelWarning:
		return "WARNING"
	case LevelInfo:
		return "INFO"
	case LevelBlather:
		return "BLATHER"
	case LevelDebug:
		return "DEBUG"
	case LevelTrace:
		return "TRACE"
	case LevelNotSet:
		return "NOTSET"
	}
	return "Level " + strconv.Itoa(int(l))
}

// zerologLevel is the nearest zerolog level at or below l, so that zerolog
// level names in JSON output and zerolog-level filtering stay meaningful.
// The exact number travels in the "levelno" field.
func (l Level) zerologLevel() zerolog.Level {
	switch {
	case l >= LevelCritical:
		// Fatal without os.Exit: events are started with WithLevel.
		return zerolog.FatalLevel
	case l >= LevelError:
		return zerolog.ErrorLevel
	case l >= LevelWarning:
		return zerolog.WarnLevel
	case l >= LevelInfo:
		return zerolog.InfoLevel
	case l >= LevelDebug:
		return zerolog.DebugLevel
	}
	return zerolog.TraceLevel
}

// levelFromZerolog maps the level of an event made directly on the zerolog
// logger (no "levelno" field) back to a Python number.  Events without a
// level (zerolog's Log()) mean "always", which is closest to INFO for a root
// logger at its ZConfig default level.
func levelFromZerolog(s string) Level {
	switch s {
	case zerolog.LevelTraceValue:
		return LevelTrace
	case zerolog.LevelDebugValue:
		return LevelDebug
	case zerolog.LevelWarnValue:
		return LevelWarning
	case zerolog.LevelErrorValue:
		return LevelError
	case zerolog.LevelFatalValue, zerolog.LevelPanicValue:
		return LevelCritical
	}
	return LevelInfo
}
