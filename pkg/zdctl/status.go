package zdctl

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
)

// zdctl reads zdrun's status reply here rather than with pkg/control's
// ParseStatus and ParsePyStrList, and so does not import pkg/control at
// all: that package compiles its regular expressions when the process
// starts and runs them on every reply, which together cost a one-shot
// "zdctl status" about 0.15 ms of its 2 ms budget (issue 3). The results
// are the same: FuzzParseStatusSame and FuzzParsePyStrListSame compare
// these functions with control's on arbitrary input.

// replyStatus is what zdctl uses of a status reply (spec §4).
type replyStatus struct {
	application int // application=<pid or 0>
	shouldBeUp  int // should_be_up=0|1; 1 when absent (seed-era mood=)
	testing     int // testing=0|1; 0 when absent
	args        []string
	argsOK      bool // an args= line was there and parsed
}

// firstField returns the value of the first line of reply that starts
// with key (which ends in '='), as zdaemon's multi-line regular
// expressions find it (^key(.*)$ in re.M mode: lines end at '\n').
func firstField(reply, key string) (string, bool) {
	for line := range strings.SplitSeq(reply, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return v, true
		}
	}
	return "", false
}

// firstDigits is firstField for a key whose value must be all ASCII
// digits: the first line that is key followed by digits only.
func firstDigits(reply, key string) (string, bool) {
	for line := range strings.SplitSeq(reply, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok && allDigits(v) {
			return v, true
		}
	}
	return "", false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseStatus interprets a status reply as zdctl does (spec §2): ok is
// false when there is no "application=<digits>" line, i.e. no live
// manager answered.
func parseStatus(reply string) (st replyStatus, ok bool) {
	v, found := firstDigits(reply, "application=")
	if !found {
		return st, false
	}
	pid, err := strconv.Atoi(v)
	if err != nil { // digits but out of range: not a manager we understand
		return st, false
	}
	st.application = pid
	st.shouldBeUp = 1
	if v, found := firstDigits(reply, "should_be_up="); found {
		st.shouldBeUp, _ = strconv.Atoi(v)
	}
	if v, found := firstDigits(reply, "testing="); found {
		st.testing, _ = strconv.Atoi(v)
	}
	if v, found := firstField(reply, "args="); found {
		if args, err := parsePyStrList(v); err == nil {
			st.args, st.argsOK = args, true
		}
	}
	return st, true
}

// errPyLiteral is returned for a list literal parsePyStrList cannot read.
var errPyLiteral = errors.New("not a Python list of strings")

// parsePyStrList reads a Python list of str as repr() writes it (either
// quote, the usual backslash escapes, \x/\u/\U, and surrogateescape's
// \udc80-\udcff for undecodable bytes), with blanks between items and an
// optional trailing comma: zdrun's args= and filename= values.
func parsePyStrList(lit string) ([]string, error) {
	i := skipBlanks(lit, 0)
	if i >= len(lit) || lit[i] != '[' {
		return nil, errPyLiteral
	}
	i++
	words := []string{}
	for {
		i = skipBlanks(lit, i)
		if i < len(lit) && lit[i] == ']' {
			i++
			break
		}
		w, next, ok := pyString(lit, i)
		if !ok {
			return nil, errPyLiteral
		}
		words = append(words, w)
		i = skipBlanks(lit, next)
		if i < len(lit) && lit[i] == ',' {
			i++
			continue
		}
		if i < len(lit) && lit[i] == ']' {
			i++
			break
		}
		return nil, errPyLiteral
	}
	if skipBlanks(lit, i) != len(lit) {
		return nil, errPyLiteral
	}
	return words, nil
}

func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// pyString reads the quoted string starting at s[i] and returns its
// value and the index after the closing quote.
func pyString(s string, i int) (string, int, bool) {
	if i >= len(s) || (s[i] != '\'' && s[i] != '"') {
		return "", 0, false
	}
	quote := s[i]
	i++
	var b []byte
	for {
		if i >= len(s) || s[i] == '\n' {
			return "", 0, false
		}
		c := s[i]
		if c == quote {
			return string(b), i + 1, true
		}
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", 0, false
		}
		e := s[i+1]
		i += 2
		switch e {
		case '\\', '\'', '"':
			b = append(b, e)
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'v':
			b = append(b, '\v')
		case '0':
			b = append(b, 0)
		case 'x', 'u', 'U':
			n := 2
			if e == 'u' {
				n = 4
			} else if e == 'U' {
				n = 8
			}
			if i+n > len(s) {
				return "", 0, false
			}
			v, err := strconv.ParseUint(s[i:i+n], 16, 32)
			if err != nil {
				return "", 0, false
			}
			i += n
			switch {
			case v >= 0xdc80 && v <= 0xdcff:
				b = append(b, byte(v-0xdc00)) // surrogateescape: the raw byte
			case v > unicode.MaxRune || v >= 0xd800 && v <= 0xdfff:
				return "", 0, false
			default:
				b = append(b, string(rune(v))...)
			}
		default:
			return "", 0, false
		}
	}
}
