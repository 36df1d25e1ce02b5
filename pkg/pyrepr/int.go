package pyrepr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInt is matched (errors.Is) by every ParseInt error.
var ErrInt = errors.New("invalid int literal")

// IntError is a ParseInt failure; its text is Python's ValueError.
type IntError struct{ Msg string }

func (e *IntError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInt) true.
func (e *IntError) Is(target error) bool { return target == ErrInt }

// ParseInt is Python's int(s, base) for base 10 or 0 (0: the base
// follows a 0x, 0o or 0b prefix, as in Python source), within int64.
// Like Python it ignores surrounding whitespace, takes a sign and single
// underscores between digits, and in base 0 refuses a decimal with
// leading zeros ("010"). The error text is Python's ValueError, "invalid
// literal for int() with base 0: '010'".
func ParseInt(s string, base int) (int64, error) {
	bad := func() error {
		return &IntError{Msg: fmt.Sprintf("invalid literal for int() with base %d: %s", base, Str(s))}
	}
	t := strings.TrimSpace(s)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	digits, radix := t, 10
	if base == 0 && len(t) >= 2 && t[0] == '0' {
		switch t[1] {
		case 'x', 'X':
			digits, radix = t[2:], 16
		case 'o', 'O':
			digits, radix = t[2:], 8
		case 'b', 'B':
			digits, radix = t[2:], 2
		}
		if radix != 10 && strings.HasPrefix(digits, "_") {
			digits = digits[1:] // "0x_1f" is allowed
		}
	}
	if digits == "" || digits[0] == '_' || digits[len(digits)-1] == '_' || strings.Contains(digits, "__") {
		return 0, bad()
	}
	plain := strings.ReplaceAll(digits, "_", "")
	if base == 0 && radix == 10 && len(plain) > 1 && plain[0] == '0' && strings.Trim(plain, "0") != "" {
		return 0, bad()
	}
	for _, c := range plain {
		if c > 0x7f { // Python would take other Unicode digits too
			return 0, bad()
		}
	}
	v, err := strconv.ParseUint(plain, radix, 64)
	if err != nil || (!neg && v > 1<<63-1) || (neg && v > 1<<63) {
		if err != nil && errors.Is(err, strconv.ErrRange) || err == nil {
			return 0, &IntError{Msg: fmt.Sprintf("%s is out of range", Str(s))}
		}
		return 0, bad()
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}
