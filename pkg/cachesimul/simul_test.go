package cachesimul

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

type ev struct {
	ts         int32
	code       byte
	oid        uint64
	start, end uint64
	dlen       uint32
}

func traceOf(t *testing.T, evs []ev) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cachetrace.NewWriter(&b)
	for _, e := range evs {
		rec := cachetrace.Record{Time: e.ts, Code: e.code, Dlen: e.dlen, Start: e.start, End: e.end}
		if e.code != 0 {
			rec.Oid = binary.BigEndian.AppendUint64(nil, e.oid)
		}
		if err := w.Write(&rec); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func simulate(t *testing.T, data []byte, opt Options) []string {
	t.Helper()
	var out bytes.Buffer
	if err := Simulate(bytes.NewReader(data), &out, opt); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

const t0 = 1700000000 // Tue Nov 14 22:13:20 2023 UTC

func TestMain(m *testing.M) {
	// The reports print local time; the expectations are in UTC.
	if err := setUTC(); err != nil {
		panic(err)
	}
	m.Run()
}

// Python: AssertionError on a zero-length store, on an invalidation not
// above the current start tid, and on a revision cached with another end
// tid.  We go on, and count what the real cache would do.
func TestAssertionCasesGoOn(t *testing.T) {
	data := traceOf(t, []ev{
		{t0, 0x00, 0, 0, 0, 0},
		{t0 + 1, 0x52, 1, 0x10, 0, 0},       // zero-length store
		{t0 + 2, 0x22, 1, 0x10, 0, 0},       // hit
		{t0 + 3, 0x52, 2, 0x20, 0, 5},       // current 2 @0x20
		{t0 + 4, 0x1c, 2, 0x10, 0, 0},       // older invalidation: ignored
		{t0 + 5, 0x22, 2, 0x20, 0, 5},       // still a hit
		{t0 + 6, 0x54, 2, 0x20, 0x30, 5},    // same (oid, start) as current: ignored
		{t0 + 7, 0x1c, 2, 0x40, 0, 0},       // real invalidation
		{t0 + 8, 0x54, 2, 0x20, 0x50, 5},    // same start, other end: ignored
		{t0 + 9, 0x52, 3, 0x10, 0, 1 << 20}, // larger than the cache: ignored
		{t0 + 10, 0x20, 3, 0, 0, 0},         // miss
	})
	lines := simulate(t, data, Options{Size: 4096, Interval: 900, Rearrange: 0.8})
	want := []string{
		"CircularCacheSimulation, cache size 4,096 bytes",
		"  START TIME   DUR.   LOADS    HITS INVALS WRITES HITRATE  EVICTS   INUSE",
		"Nov 14 22:13      9       3       2      1      2   66.7%       0     2.2",
		"--------------------------------------------------------------------------",
		"Nov 14 22:13      9       3       2      1      2   66.7%       0     2.2",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// Time stamps going backwards give Python's negative floor-divmod
// durations; odd-length oids are keyed apart from 8-byte ones.
func TestBackwardsAndOddOids(t *testing.T) {
	var b bytes.Buffer
	w := cachetrace.NewWriter(&b)
	w.Write(&cachetrace.Record{Time: t0 + 5, Code: 0x52, Dlen: 10, Start: 1, Oid: []byte{1}})
	w.Write(&cachetrace.Record{Time: t0, Code: 0x22, Dlen: 10, Start: 1, Oid: []byte{1}})
	w.Write(&cachetrace.Record{Time: t0, Code: 0x22, Dlen: 10, Start: 1, Oid: []byte{0, 0, 0, 0, 0, 0, 0, 1}})
	lines := simulate(t, b.Bytes(), Options{Size: 4096, Interval: 900, Rearrange: 0.8})
	if got := lines[2]; got != "Nov 14 22:13 -1:59:55       2       1      0      1   50.0%       0     1.3" {
		t.Errorf("line %q", got)
	}
}

func TestDuration(t *testing.T) {
	for secs, want := range map[int64]string{0: "0", 59: "59", 60: "1:00", 3599: "59:59", 3600: "1:00:00", 90061: "25:01:01", -5: "-1:59:55"} {
		if got := string(appendDuration(nil, secs)); got != want {
			t.Errorf("duration(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestSizeTooSmall(t *testing.T) {
	if err := Simulate(bytes.NewReader(nil), &bytes.Buffer{}, Options{Size: 12}); err != ErrSize {
		t.Errorf("got %v", err)
	}
}
