// Package pyrepr writes strings the way Python 3's repr() and ascii() do.
//
// zdaemon, ZConfig, ZEO and mkzeoinst embed reprs in the messages users and
// scripts read ('bogus-key' is not a known key name, args=['sleep', '100'],
// Warning: not overwriting existing file '/srv/zeo/etc/zeo.conf'), so every
// zdkit program that reproduces such a message quotes through this one
// package.
package pyrepr

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Str returns repr(s) for a Python str.
//
// Python picks single quotes unless the string contains a single quote and
// no double quote. Non-printable characters are escaped as \t \n \r, \xNN,
// \uNNNN or \UNNNNNNNN; printable non-ASCII characters are kept. Bytes that
// are not valid UTF-8 are shown as the lone surrogates \udcNN that Python's
// surrogateescape decoding (used for file names and argv) produces.
func Str(s string) string { return quote(s, false) }

// ASCII returns ascii(s): repr(s) with every non-ASCII character escaped
// (the %(name)a conversion of Python's logging formats).
func ASCII(s string) string { return quote(s, true) }

// List returns repr() of a list of str, e.g. ['sleep', '100'].
func List(words []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, w := range words {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Str(w))
	}
	b.WriteByte(']')
	return b.String()
}

func quote(s string, ascii bool) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r >= 0x80 && !ascii && unicode.IsPrint(r):
			// unicode.IsPrint matches str.isprintable(): letters, marks,
			// numbers, punctuation, symbols and the ASCII space; other
			// spaces and format characters escape.
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
