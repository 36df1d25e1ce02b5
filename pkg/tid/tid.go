package tid

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// TID is a ZODB transaction id (also used for object serials). Its numeric
// order is its chronological order.
type TID uint64

const (
	// Zero is ZODB's z64: the "last transaction" of an empty storage.
	Zero TID = 0
	// Max is ZODB.utils.maxtid, the "before" value meaning "current".
	Max TID = 0x7fffffffffffffff
)

// sconv is the size of one unit of the low half in seconds (60 / 2^32).
// persistent's C code computes it the same way, and it is exact in binary,
// so float results below are bit-identical to Python's.
const sconv = 60.0 / 4294967296.0

// ErrRange reports calendar fields that persistent.TimeStamp refuses.
var ErrRange = errors.New("tid: timestamp field out of range")

// ErrSyntax reports a string that is not a TID.
var ErrSyntax = errors.New("tid: invalid syntax")

// FromBytes reads 8 big-endian bytes. It returns Zero for a short slice so
// that callers handling untrusted input never panic; use Parse* for
// validation.
func FromBytes(b []byte) TID {
	if len(b) < 8 {
		return Zero
	}
	return TID(binary.BigEndian.Uint64(b))
}

// Bytes returns the 8-byte big-endian form stored in Data.fs.
func (t TID) Bytes() [8]byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t))
	return b
}

// hi and lo are the two halves of the encoding.
func (t TID) hi() uint32 { return uint32(uint64(t) >> 32) }
func (t TID) lo() uint32 { return uint32(t) }

// Parts is the broken-down calendar form of a TID, as TimeStamp's
// year()/month()/day()/hour()/minute()/second() return it.
type Parts struct {
	Year, Month, Day, Hour, Minute int
	// Second includes the fraction; it lies in [0, 60] (60.0 itself only
	// appears for a low half close to 2^32, e.g. maxtid).
	Second float64
}

// Parts decodes the TID. It never fails: every 64-bit value decodes to
// some (possibly odd-looking) date, as in Python.
func (t TID) Parts() Parts {
	h := uint64(t.hi())
	return Parts{
		Minute: int(h % 60),
		Hour:   int(h / 60 % 24),
		Day:    int(h/1440%31) + 1,
		Month:  int(h/44640%12) + 1,
		Year:   int(h/535680) + 1900,
		Second: float64(t.lo()) * sconv,
	}
}

// minuteUnix returns the Unix seconds of the TID's minute, computed in the
// true calendar like TimeStamp_abst does (a 31st of a 30-day month simply
// rolls over, as in C).
func (p Parts) minuteUnix() int64 {
	return time.Date(p.Year, time.Month(p.Month), p.Day, p.Hour, p.Minute, 0, 0, time.UTC).Unix()
}

// gmoff is persistent's C "gmoff": _abst() of 1970-01-01, i.e. the
// seconds from 1901-01-01 to 1970-01-01. _abst counts from 1901, not 1900:
// its _yad(1901) is 0 (and _yad(1900) is -365).
const gmoff = 2177452800

// TimeTime is TimeStamp.timeTime(): Unix seconds as a float, used by
// history() and undoLog() "time" entries.
//
// The order of the float operations follows persistent's C
// TimeStamp_timeTime: (seconds of the minute since 1901-01-01 + fraction),
// and only THEN minus the 1901->1970 offset. Adding the fraction to Unix
// seconds instead rounds differently for about half of all tids (one ulp
// off, e.g. 1795976881.9502776 instead of Python's 1795976881.9502773),
// which ZEO clients see in history()/undoLog() "time" values.
func (t TID) TimeTime() float64 {
	p := t.Parts()
	sinceBase := float64(p.minuteUnix()+gmoff) + p.Second
	return sinceBase - gmoff
}

// Time converts the TID to a time.Time in UTC, truncated to the
// nanosecond.
func (t TID) Time() time.Time {
	p := t.Parts()
	// Exact integer nanoseconds: lo * 60e9 / 2^32.
	h128, l128 := bits.Mul64(uint64(t.lo()), 60_000_000_000)
	ns := int64(h128<<32 | l128>>32)
	return time.Unix(p.minuteUnix(), ns).UTC()
}

// String is str(TimeStamp): "YYYY-MM-DD HH:MM:SS.ffffff" with the seconds
// printed as %09.6f, so "60.000000" can appear.
func (t TID) String() string {
	p := t.Parts()
	return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%09.6f", p.Year, p.Month, p.Day, p.Hour, p.Minute, p.Second)
}

// Hex is the 16-digit lowercase hex form (fsdump's tid=%016x).
func (t TID) Hex() string { return fmt.Sprintf("%016x", uint64(t)) }

// Repr is ZODB.utils.tid_repr / oid_repr: hex without leading zero nibbles,
// padded to an even number of digits, with "0x" in front ("0x00" for zero).
// Blob file names are Repr()+".blob".
func (t TID) Repr() string { return HexRepr(uint64(t)) }

// HexRepr formats any 8-byte id the way ZODB.utils.oid_repr does.
func HexRepr(v uint64) string {
	s := strconv.FormatUint(v, 16)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return "0x" + s
}

// ReadableRepr is ZODB.utils.readable_tid_repr: "0x… YYYY-MM-DD …".
func (t TID) ReadableRepr() string { return t.Repr() + " " + t.String() }

// ParseHex accepts "040d3f174b41c4cc", "0x040d3f174b41c4cc" or the short
// oid_repr form "0x03".
func ParseHex(s string) (TID, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if h == "" || len(h) > 16 {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	v, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	return TID(v), nil
}

var dpm = [2][13]int{
	{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
	{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31},
}

func leap(y int) int {
	if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 1
	}
	return 0
}

// FromParts builds a TID the way TimeStamp(y, mo, d, h, mi, sec) does: the
// seconds are divided by 60/2^32 and truncated.
func FromParts(p Parts) (TID, error) {
	if p.Year < 1900 || p.Month < 1 || p.Month > 12 || p.Day < 1 || p.Day > dpm[leap(p.Year)][p.Month] ||
		p.Hour < 0 || p.Hour > 23 || p.Minute < 0 || p.Minute > 59 || !(p.Second >= 0 && p.Second <= 60) {
		return 0, fmt.Errorf("%w: %+v", ErrRange, p)
	}
	hi := ((((uint64(p.Year-1900)*12+uint64(p.Month-1))*31+uint64(p.Day-1))*24+uint64(p.Hour))*60 + uint64(p.Minute))
	if hi > math.MaxUint32 {
		return 0, fmt.Errorf("%w: year %d", ErrRange, p.Year)
	}
	lo := uint64(p.Second / sconv)
	if lo > math.MaxUint32 { // sec == 60.0 exactly; C would wrap, we clamp
		lo = math.MaxUint32
	}
	return TID(hi<<32 | lo), nil
}

// FromTime encodes a time.Time (converted to UTC). The low half is
// floor(ns_in_minute * 2^32 / 60e9), computed exactly in integers, which
// equals the float formula except where the float rounds.
func FromTime(tm time.Time) TID {
	tm = tm.UTC()
	y, mo, d := tm.Date()
	if y < 1900 {
		return Zero
	}
	hi := ((((uint64(y-1900)*12+uint64(mo-1))*31+uint64(d-1))*24+uint64(tm.Hour()))*60 + uint64(tm.Minute()))
	ns := uint64(tm.Second())*1_000_000_000 + uint64(tm.Nanosecond())
	// ns < 60e9 < 2^36, so ns*2^32 needs 128-bit arithmetic.
	h128, l128 := bits.Mul64(ns, 1<<32)
	lo, _ := bits.Div64(h128, l128, 60_000_000_000)
	return TID(hi<<32 | (lo & math.MaxUint32))
}

// FromUnix converts a float Unix time exactly as FileStorage.pack() and
// tpc_begin do: TimeStamp(*(gmtime(t)[:5] + (t % 60,))).
func FromUnix(t float64) (TID, error) {
	if math.IsNaN(t) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("%w: %v", ErrRange, t)
	}
	sec := math.Floor(t)
	tm := time.Unix(int64(sec), 0).UTC()
	m := math.Mod(t, 60) // Python's % for floats: result has the sign of 60
	if m < 0 {
		m += 60
	}
	return FromParts(Parts{Year: tm.Year(), Month: int(tm.Month()), Day: tm.Day(), Hour: tm.Hour(), Minute: tm.Minute(), Second: m})
}

// Now returns the TID for the current time.
func Now() TID { return FromTime(time.Now()) }

// LaterThan is TimeStamp.laterThan(prev): t itself if it is greater than
// prev, otherwise prev plus one unit. When prev's low half is all ones the
// result moves to the next real calendar minute (true month lengths,
// Gregorian leap years) with a low half of zero, as persistent's C code does.
func (t TID) LaterThan(prev TID) TID {
	if t > prev {
		return t
	}
	if prev.lo() != math.MaxUint32 {
		return prev + 1
	}
	p := prev.Parts()
	y, mo, d, h, mi := p.Year, p.Month, p.Day, p.Hour, p.Minute
	mi++
	if mi > 59 {
		mi = 0
		h++
		if h > 23 {
			h = 0
			d++
			if d > dpm[leap(y)][mo] {
				d = 1
				mo++
				if mo > 12 {
					mo = 1
					y++
				}
			}
		}
	}
	hi := ((((uint64(y-1900)*12+uint64(mo-1))*31+uint64(d-1))*24+uint64(h))*60 + uint64(mi))
	return TID(hi << 32)
}
