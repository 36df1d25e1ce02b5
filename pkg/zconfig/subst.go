package zconfig

import (
	"fmt"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// isSubstName matches ZConfig's substitution names: [a-zA-Z_][a-zA-Z0-9_]*.
func isSubstName(s string) bool {
	return s != "" && substNameLen(s) == len(s)
}

// substNameLen is the length of the longest name at the start of s.
func substNameLen(s string) int {
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
		case c >= '0' && c <= '9' && i > 0:
		default:
			return i
		}
		i++
	}
	return i
}

// substitute expands $NAME, ${NAME} (defines, case-insensitive), $(NAME)
// (environment, case kept) and $$, as ZConfig.substitution does. Errors
// carry ZConfig's wording plus the whole source text.
func (p *parser) substitute(s string, pos Pos) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	rest := s
	bad := func(format string, args ...any) error {
		e := newError(ErrSubstitution, pos, format, args...)
		e.Value = s
		e.After = "in " + pyrepr.Str(s)
		return e
	}
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+1:]
		if rest == "" {
			return "", bad("illegal lone '$' at end of source")
		}
		var name string
		env := false
		switch rest[0] {
		case '$':
			b.WriteByte('$')
			rest = rest[1:]
			continue
		case '{', '(':
			closer := byte('}')
			if rest[0] == '(' {
				closer, env = ')', true
			}
			n := substNameLen(rest[1:])
			if n == 0 {
				return "", bad("'$%c' not followed by name", rest[0])
			}
			name = rest[1 : 1+n]
			if 1+n >= len(rest) || rest[1+n] != closer {
				return "", bad("'$%c%s' not followed by '%c'", rest[0], name, closer)
			}
			rest = rest[2+n:]
		default:
			n := substNameLen(rest)
			if n == 0 {
				return "", bad("'$' not followed by '$' or name")
			}
			name = rest[:n]
			rest = rest[n:]
		}
		var v string
		var ok bool
		if env {
			v, ok = p.opts.Env(name)
		} else {
			v, ok = p.defines[strings.ToLower(name)]
		}
		if !ok {
			// SubstitutionReplacementError is a syntax error in ZConfig:
			// "no replacement for 'X'\n(line 2 in file:///...)".
			e := syntaxError(ErrSubstitution, pos, "no replacement for %s", pyrepr.Str(name))
			e.Key, e.Value = name, s
			return "", e
		}
		if b.Len()+len(v) > MaxValueLen || p.expand+len(v) > MaxExpansion {
			e := newError(ErrSubstitution, pos, "value longer than %d bytes after substitution", MaxValueLen)
			if b.Len()+len(v) <= MaxValueLen {
				e.Msg = fmt.Sprintf("substitutions produce more than %d bytes in all", MaxExpansion)
			}
			e.Key, e.Value = name, s
			return "", e
		}
		p.expand += len(v)
		b.WriteString(v)
	}
}
