package tracecli

import (
	"strconv"
	"time"
)

// CtimeLayout is Python's time.ctime() form, "Tue Nov 14 22:13:20 2023"
// (day space padded, 24 characters for four-digit years, never localised).
const CtimeLayout = "Mon Jan _2 15:04:05 2006"

// AppendCtime appends ctime(ts) in the process's local zone (TZ), as the
// Python tools print it.
func AppendCtime(b []byte, ts int64) []byte {
	return time.Unix(ts, 0).AppendFormat(b, CtimeLayout)
}

// Ctime returns ctime(ts) in local time.
func Ctime(ts int64) string { return string(AppendCtime(nil, ts)) }

// AppendCommas appends n with its digits grouped by threes ("1,234,567",
// "-1,477,753,509"), the tools' addcommas().
func AppendCommas(b []byte, n int64) []byte {
	var tmp [24]byte
	s := strconv.AppendInt(tmp[:0], n, 10)
	if s[0] == '-' {
		b = append(b, '-')
		s = s[1:]
	}
	first := len(s) % 3
	if first == 0 {
		first = 3
	}
	b = append(b, s[:first]...)
	for i := first; i < len(s); i += 3 {
		b = append(b, ',')
		b = append(b, s[i:i+3]...)
	}
	return b
}

// Commas returns AppendCommas(nil, n) as a string.
func Commas(n int64) string { return string(AppendCommas(nil, n)) }

// AppendPad appends s right-aligned in a field of width w (Python "%ws").
func AppendPad(b []byte, s []byte, w int) []byte {
	for i := len(s); i < w; i++ {
		b = append(b, ' ')
	}
	return append(b, s...)
}

// AppendInt appends n right-aligned in width w (Python "%wd" / "%ws" of
// an int).
func AppendInt(b []byte, n int64, w int) []byte {
	var tmp [24]byte
	return AppendPad(b, strconv.AppendInt(tmp[:0], n, 10), w)
}

// AppendPercent appends "%5.1f%%" of v.  strconv rounds the exact binary
// value half to even, as Python's % formatting does.
func AppendPercent(b []byte, v float64) []byte {
	var tmp [32]byte
	b = AppendPad(b, strconv.AppendFloat(tmp[:0], v, 'f', 1, 64), 5)
	return append(b, '%')
}

// FloorDiv is Python's // on integers (rounds toward negative infinity);
// time stamps in garbage input can be negative.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
