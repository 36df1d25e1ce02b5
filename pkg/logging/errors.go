package logging

import (
	"errors"
	"fmt"
)

// Sentinel errors; every error returned by this package wraps one of them
// with context naming the offending value.
var (
	// ErrLevel: a level that is neither a known name nor an integer 0..50.
	ErrLevel = errors.New("invalid log level")
	// ErrFormat: a format string Python logging (as ZConfig checks it)
	// would refuse.  Returned wrapped in a *FormatError.
	ErrFormat = errors.New("invalid log format string")
	// ErrConfig: an inconsistent handler configuration (the checks of
	// ZConfig's FileHandlerFactory).
	ErrConfig = errors.New("invalid log handler configuration")
	// ErrClosed: Reopen on a Log that was closed.
	ErrClosed = errors.New("log is closed")
)

// FormatError reports why a Python logging format string was refused and
// where.
type FormatError struct {
	Format string // the format after ZConfig's escape expansion
	Index  int    // byte offset of the offending conversion
	Reason string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v %q: %s at index %d", ErrFormat, e.Format, e.Reason, e.Index)
}

// Unwrap lets errors.Is(err, ErrFormat) match.
func (e *FormatError) Unwrap() error { return ErrFormat }
