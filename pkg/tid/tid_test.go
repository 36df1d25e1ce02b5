package tid

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestManifestStrings checks String() against str(TimeStamp) for every
// transaction id in the Python-made fixtures.
func TestManifestStrings(t *testing.T) {
	f, err := os.Open("testdata/manifest_tids.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		hex, want, _ := strings.Cut(line, "\t")
		id, err := ParseHex(hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := id.String(); got != want {
			t.Errorf("%s: String() = %q, want %q", hex, got, want)
		}
		if id.Hex() != hex {
			t.Errorf("Hex() = %q, want %q", id.Hex(), hex)
		}
		n++
	}
	if n < 50 {
		t.Fatalf("only %d tids read", n)
	}
}

// Worked values checked against persistent.TimeStamp.
func TestSpecValues(t *testing.T) {
	id := TID(0x040d3f174b41c4cc)
	if got := id.String(); got != "2026-11-25 05:43:17.638338" {
		t.Errorf("String = %q", got)
	}
	if got := id.TimeTime(); math.Abs(got-1795585397.638338) > 1e-6 {
		t.Errorf("TimeTime = %f", got)
	}
	if got := TID(0x03f0000000000001).String(); got != "2023-04-27 04:48:00.000000" {
		t.Errorf("String = %q", got)
	}
	if got := Max.String(); got != "5908-11-23 02:07:60.000000" {
		t.Errorf("maxtid String = %q", got)
	}
	if got := Zero.String(); got != "1900-01-01 00:00:00.000000" {
		t.Errorf("z64 String = %q", got)
	}
	if got := Zero.TimeTime(); got != -2208988800 {
		t.Errorf("z64 TimeTime = %f", got)
	}
	if got := TID(3).Repr(); got != "0x03" {
		t.Errorf("Repr = %q", got)
	}
	if got := TID(0x100).Repr(); got != "0x0100" {
		t.Errorf("Repr = %q", got)
	}
	if got := Zero.Repr(); got != "0x00" {
		t.Errorf("Repr = %q", got)
	}
	if got := TID(0x040d3f178d6b5211).Repr() + ".blob"; got != "0x040d3f178d6b5211.blob" {
		t.Errorf("blob name = %q", got)
	}
}

// TestPackTime reproduces the conversion FileStorage.pack() made for the
// packed fixture: pack_time 1795585540.2086878 -> 040d3f19ab8e9c00.
func TestPackTime(t *testing.T) {
	got, err := FromUnix(1795585540.2086878)
	if err != nil {
		t.Fatal(err)
	}
	if got != 0x040d3f19ab8e9c00 {
		t.Fatalf("FromUnix = %s, want 040d3f19ab8e9c00", got.Hex())
	}
}

func TestRoundTripTime(t *testing.T) {
	tm := time.Date(2026, 11, 25, 5, 43, 17, 638338000, time.UTC)
	id := FromTime(tm)
	if id.hi() != 67976983 {
		t.Fatalf("hi = %d", id.hi())
	}
	back := id.Time()
	if d := tm.Sub(back); d < 0 || d > 14*time.Nanosecond {
		t.Fatalf("round trip off by %v", d)
	}
	// Truncation, not rounding: the float formula of TimeStamp agrees.
	sec := 17.638338
	if want := uint32(sec / sconv); id.lo() != want && id.lo() != want+1 && id.lo()+1 != want {
		t.Fatalf("lo = %d, float formula %d", id.lo(), want)
	}
	p := id.Parts()
	if p.Year != 2026 || p.Month != 11 || p.Day != 25 || p.Hour != 5 || p.Minute != 43 {
		t.Fatalf("parts %+v", p)
	}
	if FromTime(time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)) != Zero {
		t.Fatal("pre-1900 time should give Zero")
	}
}

func TestLaterThan(t *testing.T) {
	a := TID(0x040d3f174b41c4cc)
	if got := (a + 5).LaterThan(a); got != a+5 {
		t.Fatal("greater value must be kept")
	}
	if got := a.LaterThan(a); got != a+1 {
		t.Fatal("equal value must become prev+1")
	}
	if got := (a - 9).LaterThan(a); got != a+1 {
		t.Fatal("smaller value must become prev+1")
	}
	// lo overflow carries into the next real minute: 2024-02-29 23:59 is
	// followed by 2024-03-01 00:00 (leap year, true month lengths).
	p, err := FromParts(Parts{Year: 2024, Month: 2, Day: 29, Hour: 23, Minute: 59, Second: 0})
	if err != nil {
		t.Fatal(err)
	}
	full := p | 0xffffffff
	next := Zero.LaterThan(full)
	if got := next.String(); got != "2024-03-01 00:00:00.000000" {
		t.Fatalf("carry gave %s", got)
	}
	p2, _ := FromParts(Parts{Year: 2023, Month: 12, Day: 31, Hour: 23, Minute: 59})
	if got := Zero.LaterThan(p2 | 0xffffffff).String(); got != "2024-01-01 00:00:00.000000" {
		t.Fatalf("year carry gave %s", got)
	}
	p3, _ := FromParts(Parts{Year: 2023, Month: 2, Day: 28, Hour: 23, Minute: 59})
	if got := Zero.LaterThan(p3 | 0xffffffff).String(); got != "2023-03-01 00:00:00.000000" {
		t.Fatalf("non-leap carry gave %s", got)
	}
}

func TestFromPartsRange(t *testing.T) {
	bad := []Parts{
		{Year: 1899, Month: 1, Day: 1},
		{Year: 2000, Month: 13, Day: 1},
		{Year: 2001, Month: 2, Day: 29},
		{Year: 2000, Month: 1, Day: 1, Hour: 24},
		{Year: 2000, Month: 1, Day: 1, Second: -1},
		{Year: 2000, Month: 1, Day: 1, Second: math.NaN()},
	}
	for _, p := range bad {
		if _, err := FromParts(p); err == nil {
			t.Errorf("FromParts(%+v) accepted", p)
		}
	}
	if _, err := FromUnix(math.Inf(1)); err == nil {
		t.Error("FromUnix(inf) accepted")
	}
}

func TestParseHex(t *testing.T) {
	for _, s := range []string{"", "0x", "zz", "0x12345678901234567"} {
		if _, err := ParseHex(s); err == nil {
			t.Errorf("ParseHex(%q) accepted", s)
		}
	}
	if v, err := ParseHex("0x03"); err != nil || v != 3 {
		t.Errorf("ParseHex(0x03) = %v, %v", v, err)
	}
	b := TID(0x0102030405060708).Bytes()
	if FromBytes(b[:]) != 0x0102030405060708 || FromBytes(b[:3]) != Zero {
		t.Error("FromBytes")
	}
}

// TestTimeTimeMatchesPython checks TimeTime bit for bit against values
// printed by Python's C TimeStamp(...).timeTime() (persistent 4.6.4,
// repr of the float). The first vector is interop finding 25, where
// adding the fraction to Unix seconds was one ulp off; a 3000-tid random
// differential run against Python matched after the fix.
func TestTimeTimeMatchesPython(t *testing.T) {
	vectors := []struct {
		tid  uint64
		want float64
	}{
		{0x040d589408523922, 1795976881.9502773},
		{0x0000000000000000, -2208988800.0},
		{0xffffffffffffffff, 250807810560.0},
		{0x03c4b0c5b51ec3bb, 1515467862.4500408},
		{0x1f54e9bc8a5cd687, 28757606192.428745},
		{0x0fa264e1c4d3c1a6, 13243167466.131369},
		{0x038b8ffa14d4748a, 1294891804.8820086},
		{0x1b47e104825165e6, 24753780750.543274},
		{0x03031d023125f205, 767942531.519115},
		{0x13a6330babb3b93f, 17211136060.24267},
		{0x1f1c4bb281db208e, 28538952150.434994},
		{0x07deceb9903ce9de, 5569614333.805768},
		{0x03c0146b41332a1b, 1497596835.2812176},
		{0x0f61aa936de06ceb, 12993313165.752342},
		// Years where a 1900 base instead of _abst's 1901 base rounds differently.
		{0x045ff939ac21941d, 2115006340.3432422},
		{0x008ca82e757143b0, -1666098332.4744284},
		{0x022e7121bdd336db, -53022615.50975251},
		{0x011a3f8aac93a2fa, -1119447679.5523348},
		{0x1163330166894c0f, 14975886804.03195},
	}
	for _, v := range vectors {
		if got := TID(v.tid).TimeTime(); got != v.want {
			t.Errorf("TID(%#016x).TimeTime() = %s, want %s (Python)", v.tid,
				strconv.FormatFloat(got, 'g', -1, 64), strconv.FormatFloat(v.want, 'g', -1, 64))
		}
	}
}
