package pyrepr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrLiteral is returned (wrapped in a *LiteralError) when a Python
// list-of-strings literal cannot be parsed.
var ErrLiteral = errors.New("invalid Python literal")

// LiteralError names the offending literal and the byte offset of the
// problem.
type LiteralError struct {
	Literal string
	Offset  int
	Reason  string
}

func (e *LiteralError) Error() string {
	return fmt.Sprintf("invalid Python list literal %q at offset %d: %s", e.Literal, e.Offset, e.Reason)
}

func (e *LiteralError) Unwrap() error { return ErrLiteral }

// ParseList parses a Python list-of-str literal as written by repr()
// (and, more loosely, by hand: either quote, optional trailing comma, blanks
// between items). zdctl evaluates the status reply's args= value this way to
// compare it with its own program words (zdaemon 5.2.1 ZDCmd.get_status).
func ParseList(lit string) ([]string, error) {
	p := &pyParser{src: lit}
	p.skipSpace()
	if !p.eat('[') {
		return nil, p.fail("expected '['")
	}
	words := []string{}
	for {
		p.skipSpace()
		if p.eat(']') {
			break
		}
		w, err := p.str()
		if err != nil {
			return nil, err
		}
		words = append(words, w)
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			break
		}
		return nil, p.fail("expected ',' or ']'")
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.fail("trailing characters")
	}
	return words, nil
}

type pyParser struct {
	src string
	pos int
}

func (p *pyParser) fail(reason string) error {
	return &LiteralError{Literal: p.src, Offset: p.pos, Reason: reason}
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\n\r", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.pos < len(p.src) && p.src[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *pyParser) str() (string, error) {
	if p.pos >= len(p.src) || (p.src[p.pos] != '\'' && p.src[p.pos] != '"') {
		return "", p.fail("expected a quoted string")
	}
	quote := p.src[p.pos]
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", p.fail("unterminated string")
		}
		c := p.src[p.pos]
		switch {
		case c == quote:
			p.pos++
			return b.String(), nil
		case c == '\n':
			return "", p.fail("newline in string")
		case c != '\\':
			b.WriteByte(c)
			p.pos++
			continue
		}
		// Backslash escape.
		if p.pos+1 >= len(p.src) {
			return "", p.fail("unterminated escape")
		}
		e := p.src[p.pos+1]
		p.pos += 2
		switch e {
		case '\\', '\'', '"':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'v':
			b.WriteByte('\v')
		case '0':
			b.WriteByte(0)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.pos+n > len(p.src) {
				return "", p.fail("truncated \\" + string(e) + " escape")
			}
			v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
			if err != nil {
				return "", p.fail("bad \\" + string(e) + " escape")
			}
			p.pos += n
			switch {
			case v >= 0xdc80 && v <= 0xdcff:
				// surrogateescape: the original byte.
				b.WriteByte(byte(v - 0xdc00))
			case v > unicode.MaxRune || (v >= 0xd800 && v <= 0xdfff):
				return "", p.fail("escape is not a valid character")
			default:
				b.WriteRune(rune(v))
			}
		default:
			return "", p.fail("unknown escape \\" + string(e))
		}
	}
}
