package logging

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// record holds the LogRecord attributes a format string can name.
type record struct {
	name     string
	level    Level
	message  string
	time     time.Time
	pathname string // "" when the caller was not captured
	lineno   int
	funcName string
	process  int
	start    time.Time // for relativeCreated
	// event is zerolog's JSON object for the record, valid while it is
	// being emitted; nil when the bytes written were not one.
	event   []byte
	hasTime bool // event has its own "time" field
}

type fieldKind int

const (
	kindStr fieldKind = iota
	kindInt
	kindFloat
	kindNone // attributes that are None in a plain LogRecord
)

type fieldID int

const (
	fName fieldID = iota
	fLevelno
	fLevelname
	fPathname
	fFilename
	fModule
	fLineno
	fFuncName
	fCreated
	fMsecs
	fRelativeCreated
	fThread
	fThreadName
	fProcess
	fProcessName
	fMessage
	fAsctime
	fNone
)

type fieldInfo struct {
	id   fieldID
	kind fieldKind
}

// fields are the attributes of a Python 3 logging.LogRecord (what ZConfig's
// FormatterFactory validates against).  Go has no thread identity to offer,
// so thread is 0 and threadName empty.  exc_info, exc_text, stack_info and
// taskName are None for records made here; args is "()" in Python but has
// no meaning after Go formatting, so it is rendered as None too.
var fields = map[string]fieldInfo{
	"name":            {fName, kindStr},
	"levelno":         {fLevelno, kindInt},
	"levelname":       {fLevelname, kindStr},
	"pathname":        {fPathname, kindStr},
	"filename":        {fFilename, kindStr},
	"module":          {fModule, kindStr},
	"lineno":          {fLineno, kindInt},
	"funcName":        {fFuncName, kindStr},
	"created":         {fCreated, kindFloat},
	"msecs":           {fMsecs, kindFloat},
	"relativeCreated": {fRelativeCreated, kindFloat},
	"thread":          {fThread, kindInt},
	"threadName":      {fThreadName, kindStr},
	"process":         {fProcess, kindInt},
	"processName":     {fProcessName, kindStr},
	"message":         {fMessage, kindStr},
	"msg":             {fMessage, kindStr},
	"asctime":         {fAsctime, kindStr},
	"args":            {fNone, kindNone},
	"exc_info":        {fNone, kindNone},
	"exc_text":        {fNone, kindNone},
	"stack_info":      {fNone, kindNone},
	"taskName":        {fNone, kindNone},
}

// maxWidth bounds widths and precisions.  Python accepts up to sys.maxsize
// and would try to allocate that much; a log line is never meant to.
const maxWidth = 1 << 12

// segment is a literal or one %(key) conversion.
type segment struct {
	lit   string
	field fieldID
	kind  fieldKind
	conv  byte   // Python conversion character; 0 for a literal
	verb  string // the Go fmt verb producing the same padding
	isLit bool
}

// pyFormat is a compiled Python %-style logging format.
type pyFormat struct {
	src        string
	segs       []segment
	usesTime   bool
	usesCaller bool
}

// expandEscapes is ZConfig's ctrl_char_insert (formatter.py), applied by the
// escaped_string datatype of <logfile> format: the two-character sequences
// \n \t \b \f \r become control characters, replaced one after the other in
// that order, with no other escape processing (so "\\n" becomes a backslash
// and a newline, as in ZConfig).
func expandEscapes(s string) string {
	for _, r := range [...][2]string{{`\n`, "\n"}, {`\t`, "\t"}, {`\b`, "\b"}, {`\f`, "\f"}, {`\r`, "\r"}} {
		s = strings.ReplaceAll(s, r[0], r[1])
	}
	return s
}

// parseFormat compiles a format that has already been escape-expanded.  It
// refuses what ZConfig refuses when it formats a sample record: malformed
// conversions (ValueError), unknown keys (KeyError), conversions whose type
// does not fit the attribute (TypeError), '*' widths (not enough arguments),
// and, like logging.Formatter's validation since Python 3.8, a format
// without any %(key) field.  Python would render a key-less "%s" as the whole
// record dict; that is never what a log format means, so it is refused.
func parseFormat(src string) (*pyFormat, error) {
	pf := &pyFormat{src: src}
	bad := func(i int, reason string, args ...any) error {
		return &FormatError{Format: src, Index: i, Reason: fmt.Sprintf(reason, args...)}
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			pf.segs = append(pf.segs, segment{isLit: true, lit: lit.String()})
			lit.Reset()
		}
	}
	keyed := 0
	for i := 0; i < len(src); {
		c := src[i]
		if c != '%' {
			j := strings.IndexByte(src[i:], '%')
			if j < 0 {
				j = len(src) - i
			}
			lit.WriteString(src[i : i+j])
			i += j
			continue
		}
		start := i
		i++
		if i >= len(src) {
			return nil, bad(start, "incomplete format")
		}
		if src[i] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		key, hasKey := "", false
		if src[i] == '(' {
			// Python counts nested parentheses inside the key.
			depth := 1
			j := i + 1
			for ; j < len(src) && depth > 0; j++ {
				switch src[j] {
				case '(':
					depth++
				case ')':
					depth--
				}
			}
			if depth > 0 {
				return nil, bad(start, "incomplete format key")
			}
			key, hasKey = src[i+1:j-1], true
			i = j
		}
		var minus, plus, space, alt, zero bool
	flags:
		for ; i < len(src); i++ {
			switch src[i] {
			case '-':
				minus = true
			case '+':
				plus = true
			case ' ':
				space = true
			case '#':
				alt = true
			case '0':
				zero = true
			default:
				break flags
			}
		}
		width, prec := -1, -1
		num := func() (int, error) {
			n := 0
			for ; i < len(src) && src[i] >= '0' && src[i] <= '9'; i++ {
				n = n*10 + int(src[i]-'0')
				if n > maxWidth {
					return 0, bad(start, "width or precision larger than %d", maxWidth)
				}
			}
			return n, nil
		}
		if i < len(src) && src[i] == '*' {
			return nil, bad(start, "'*' needs a positional argument")
		}
		if i < len(src) && src[i] >= '0' && src[i] <= '9' {
			n, err := num()
			if err != nil {
				return nil, err
			}
			width = n
		}
		if i < len(src) && src[i] == '.' {
			i++
			if i < len(src) && src[i] == '*' {
				return nil, bad(start, "'*' needs a positional argument")
			}
			n, err := num()
			if err != nil {
				return nil, err
			}
			prec = n
		}
		// Python skips C length modifiers.
		for i < len(src) && (src[i] == 'h' || src[i] == 'l' || src[i] == 'L') {
			i++
		}
		if i >= len(src) {
			return nil, bad(start, "incomplete format")
		}
		conv := src[i]
		if conv >= utf8.RuneSelf {
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, bad(i, "unsupported format character %q (%#x)", r, r)
		}
		if !strings.ContainsRune("diouxXeEfFgGcrsa", rune(conv)) {
			return nil, bad(i, "unsupported format character %q (%#x)", rune(conv), conv)
		}
		i++
		if !hasKey {
			return nil, bad(start, "conversion without a %%(name) key")
		}
		info, ok := fields[key]
		if !ok {
			return nil, bad(start, "unknown LogRecord attribute %q", key)
		}
		seg := segment{field: info.id, kind: info.kind, conv: conv}
		if err := seg.compile(minus, plus, space, alt, zero, width, prec); err != "" {
			return nil, bad(start, "%%%c cannot format %s: %s", conv, key, err)
		}
		flush()
		pf.segs = append(pf.segs, seg)
		keyed++
		switch info.id {
		case fAsctime:
			pf.usesTime = true
		case fPathname, fFilename, fModule, fLineno, fFuncName:
			pf.usesCaller = true
		}
	}
	flush()
	if keyed == 0 {
		return nil, bad(0, "no %%(name) field (Python 3.8+ logging.Formatter refuses such formats)")
	}
	return pf, nil
}

// compile picks the Go fmt verb that pads and converts like Python's
// PyUnicode_Format for this conversion and attribute type, or returns why
// Python would raise TypeError.
func (s *segment) compile(minus, plus, space, alt, zero bool, width, prec int) string {
	var b strings.Builder
	b.WriteByte('%')
	numeric := func(withAlt bool) {
		if minus {
			b.WriteByte('-')
		}
		if plus {
			b.WriteByte('+')
		}
		if space {
			b.WriteByte(' ')
		}
		if withAlt && alt {
			b.WriteByte('#')
		}
		if zero && !minus {
			b.WriteByte('0')
		}
	}
	tail := func(verb byte) {
		if width >= 0 {
			b.WriteString(strconv.Itoa(width))
		}
		if prec >= 0 {
			b.WriteByte('.')
			b.WriteString(strconv.Itoa(prec))
		}
		b.WriteByte(verb)
	}
	switch s.conv {
	case 's', 'r', 'a':
		// Python ignores '0', '+', ' ' and '#' for string conversions.
		if minus {
			b.WriteByte('-')
		}
		tail('s')
	case 'd', 'i', 'u':
		if s.kind != kindInt && s.kind != kindFloat {
			return "a real number is required"
		}
		numeric(false)
		tail('d')
	case 'o':
		if s.kind != kindInt {
			return "an integer is required"
		}
		numeric(false)
		// Python's alternate octal form is "0o17"; Go's %O writes that
		// prefix, while Go's %#o would write "017".
		if alt {
			tail('O')
		} else {
			tail('o')
		}
	case 'x', 'X':
		if s.kind != kindInt {
			return "an integer is required"
		}
		numeric(true)
		tail(s.conv)
	case 'e', 'E', 'f', 'F', 'g', 'G':
		if s.kind != kindInt && s.kind != kindFloat {
			return "a real number is required"
		}
		// Python's default precision is 6 for every float conversion;
		// Go's %g without one prints the shortest exact form instead.
		if prec < 0 {
			prec = 6
		}
		numeric(true)
		tail(s.conv)
	case 'c':
		if s.kind != kindInt {
			return "%c requires an int or a single character"
		}
		if minus {
			b.WriteByte('-')
		}
		if width >= 0 {
			b.WriteString(strconv.Itoa(width))
		}
		b.WriteByte('c')
	}
	s.verb = b.String()
	return ""
}

// render appends the formatted record to buf.  asctime is the already
// formatted time, computed only when the format uses it.
func (pf *pyFormat) render(buf []byte, r *record, asctime string) []byte {
	for i := range pf.segs {
		s := &pf.segs[i]
		if s.isLit {
			buf = append(buf, s.lit...)
			continue
		}
		switch s.kind {
		case kindStr:
			v := r.strField(s.field, asctime)
			if s.conv == 'r' || s.conv == 'a' {
				if s.conv == 'a' {
					v = pyrepr.ASCII(v)
				} else {
					v = pyrepr.Str(v)
				}
			}
			buf = fmt.Appendf(buf, s.verb, v)
		case kindNone:
			buf = fmt.Appendf(buf, s.verb, "None")
		case kindInt:
			v := r.intField(s.field)
			switch s.conv {
			case 's', 'r', 'a':
				buf = fmt.Appendf(buf, s.verb, strconv.FormatInt(v, 10))
			case 'e', 'E', 'f', 'F', 'g', 'G':
				buf = fmt.Appendf(buf, s.verb, float64(v))
			case 'c':
				// Python raises OverflowError outside range(0x110000);
				// a log line is better off with a replacement character.
				c := rune(utf8.RuneError)
				if v >= 0 && v <= unicode.MaxRune {
					c = rune(v)
				}
				buf = fmt.Appendf(buf, s.verb, c)
			default:
				buf = fmt.Appendf(buf, s.verb, v)
			}
		case kindFloat:
			v := r.floatField(s.field)
			switch s.conv {
			case 's', 'r', 'a':
				buf = fmt.Appendf(buf, s.verb, pyFloatRepr(v))
			case 'd', 'i', 'u':
				// Python's %d truncates a float toward zero.
				buf = fmt.Appendf(buf, s.verb, int64(math.Trunc(v)))
			default:
				buf = fmt.Appendf(buf, s.verb, v)
			}
		}
	}
	return buf
}

func (r *record) strField(id fieldID, asctime string) string {
	switch id {
	case fName:
		return r.name
	case fLevelname:
		return r.level.String()
	case fPathname:
		return r.pathname
	case fFilename:
		return baseName(r.pathname)
	case fModule:
		// Python: os.path.splitext(filename)[0].
		f := baseName(r.pathname)
		if j := strings.LastIndexByte(f, '.'); j > 0 {
			f = f[:j]
		}
		return f
	case fFuncName:
		return r.funcName
	case fThreadName:
		return ""
	case fProcessName:
		// What Python reports for a process not started by multiprocessing.
		return "MainProcess"
	case fMessage:
		return r.message
	case fAsctime:
		return asctime
	}
	return ""
}

func baseName(p string) string {
	if j := strings.LastIndexByte(p, '/'); j >= 0 {
		return p[j+1:]
	}
	return p
}

func (r *record) intField(id fieldID) int64 {
	switch id {
	case fLevelno:
		return int64(r.level)
	case fLineno:
		return int64(r.lineno)
	case fProcess:
		return int64(r.process)
	}
	return 0 // thread: Go has no thread identity to report
}

func (r *record) floatField(id fieldID) float64 {
	switch id {
	case fCreated:
		// time.time(): whole seconds plus the fraction, which rounds
		// like Python's float for the usual microsecond clocks.
		return float64(r.time.Unix()) + float64(r.time.Nanosecond())/1e9
	case fMsecs:
		// Python 3.13 computes msecs from the nanosecond clock, whole
		// milliseconds as a float ("123.0").
		return float64(r.time.Nanosecond() / 1e6)
	case fRelativeCreated:
		return float64(r.time.Sub(r.start).Nanoseconds()) / 1e6
	}
	return 0
}

// pyFloatRepr is Python's repr(float): the shortest round-tripping digits,
// positional notation for exponents -4..15 (always with a fractional part),
// scientific with a two-digit exponent otherwise.
func pyFloatRepr(f float64) string { return pyrepr.Float(f) }
