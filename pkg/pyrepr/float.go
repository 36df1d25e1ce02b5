package pyrepr

import (
	"math"
	"strconv"
	"strings"
)

// Float is Python's repr(float) (and str(float), the same since Python
// 3.2): the shortest digits that round-trip, positional with at least
// one fractional digit (".0") for decimal exponents -4..15, scientific
// with a two-digit exponent ("1e+16", "1.5e-05") otherwise.
func Float(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	if exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:]); exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
