package zconfig

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// The kinds of configuration error. Every error returned by this package
// is an *Error whose Kind is one of these, so callers can test with
// errors.Is(err, zconfig.ErrUnknownKey) and still print a message that
// names the place and the value.
var (
	ErrSyntax         = errors.New("syntax error")
	ErrUnknownKey     = errors.New("unknown key")
	ErrUnknownSection = errors.New("unknown section")
	ErrMissing        = errors.New("missing required value")
	ErrBadValue       = errors.New("bad value")
	ErrDuplicate      = errors.New("duplicate value")
	ErrUnterminated   = errors.New("unterminated section")
	ErrSubstitution   = errors.New("bad substitution")
	ErrInclude        = errors.New("include error")
	ErrOverride       = errors.New("bad override")
)

// Pos is a place in a configuration source.
type Pos struct {
	File string // file name as given, "" for an anonymous reader
	Line int    // 1-based; 0 when unknown
}

// String formats the position as ZConfig does in its messages:
// "line 3, in file:///etc/zeo.conf" (the URL form keeps messages the same
// as the Python tools', which users grep for).
func (p Pos) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
	}
	if p.File != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("in ")
		b.WriteString(fileURL(p.File))
	}
	return b.String()
}

// fileURL renders a path the way ZConfig names its resources: a file is
// named by the file: URL of its absolute path. Names that are not paths
// ("<command line>", "-X runner/daemon=x") are kept as they are.
func fileURL(name string) string {
	if strings.HasPrefix(name, "<") || strings.HasPrefix(name, "-X ") {
		return name
	}
	if !filepath.IsAbs(name) {
		if abs, err := filepath.Abs(name); err == nil {
			name = abs
		}
	}
	return "file://" + name
}

// Error is a configuration error with its position and, where there is
// one, the key and the offending value.
type Error struct {
	Kind  error  // one of the Err* sentinels
	Msg   string // the message without position, worded like ZConfig's
	Pos   Pos
	Key   string // the key involved, if any
	Value string // the offending value, if any
	Err   error  // an underlying error (file system, conversion), if any
	// After is context printed after the position, so that the part
	// ZConfig prints ("not a valid boolean value: 'maybe' (line 3, in
	// file:///x/conf)") stays an exact prefix users and scripts can grep.
	After string
	// Syntax selects ZConfig's ConfigurationSyntaxError layout: the
	// position on a second line without a comma,
	// "unclosed sections not allowed\n(line 2 in file:///x/conf)".
	// ZConfig uses it for everything its parser reports (bad lines,
	// %directives, missing substitutions, and section errors it catches
	// at a section's start or end tag). After is not printed then, so the
	// text is exactly ZConfig's; Key and Value still carry the context.
	Syntax bool
}

// Error formats the message, then the position in ZConfig's
// "(line N, in file:///path)" form, then any extra context.
func (e *Error) Error() string {
	if e.Syntax {
		return e.syntaxString()
	}
	s := e.Msg
	if where := e.Pos.String(); where != "" {
		s += " (" + where + ")"
	}
	if e.After != "" {
		s += " " + e.After
	}
	return s
}

// syntaxString follows ZConfig's _ParseError.__str__: "msg\n(line N in
// URL)", "msg (line N)" without a URL, "msg\n(URL)" without a line.
func (e *Error) syntaxString() string {
	s := e.Msg
	url := ""
	if e.Pos.File != "" {
		url = fileURL(e.Pos.File)
	}
	switch {
	case url != "" && e.Pos.Line > 0:
		s += fmt.Sprintf("\n(line %d in %s)", e.Pos.Line, url)
	case url != "":
		s += "\n(" + url + ")"
	case e.Pos.Line > 0:
		s += fmt.Sprintf(" (line %d)", e.Pos.Line)
	}
	return s
}

// Is makes errors.Is(err, ErrUnknownKey) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap exposes the underlying error, e.g. an *fs.PathError.
func (e *Error) Unwrap() error { return e.Err }

func newError(kind error, pos Pos, format string, args ...any) *Error {
	return &Error{Kind: kind, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// syntaxError is newError in ZConfig's ConfigurationSyntaxError layout.
func syntaxError(kind error, pos Pos, format string, args ...any) *Error {
	e := newError(kind, pos, format, args...)
	e.Syntax = true
	return e
}
