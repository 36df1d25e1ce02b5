package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

type pyIndex struct {
	Len        int                         `json:"len"`
	CurrentOfs int64                       `json:"currentofs"`
	LastTid    string                      `json:"last_tid"`
	MaxSize    int64                       `json:"maxsize"`
	Current    map[string]int64            `json:"current"`
	Noncurrent map[string]map[string]int64 `json:"noncurrent"`
}

type fixtureJSON struct {
	FileSize       int64   `json:"file_size"`
	SHA256         string  `json:"sha256"`
	OpenedWithSize int64   `json:"opened_with_size"`
	PythonIndex    pyIndex `json:"python_index"`
}

func hexU64(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// copyFixture copies testdata/name into a fresh directory.
func copyFixture(t *testing.T, name, as string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), as)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkIndex(t *testing.T, got Index, want pyIndex) {
	t.Helper()
	if got.Len != want.Len || got.CurrentOfs != want.CurrentOfs || got.MaxSize != want.MaxSize || got.LastTid != hexU64(t, want.LastTid) {
		t.Errorf("len %d currentofs %d maxsize %d tid %016x; want %d %d %d %s", got.Len, got.CurrentOfs, got.MaxSize, got.LastTid, want.Len, want.CurrentOfs, want.MaxSize, want.LastTid)
	}
	if len(got.Current) != len(want.Current) {
		t.Errorf("%d current entries, want %d", len(got.Current), len(want.Current))
	}
	for k, v := range want.Current {
		if g, ok := got.Current[hexU64(t, k)]; !ok || g != v {
			t.Errorf("current[%s] = %d, %v; want %d", k, g, ok, v)
		}
	}
	if len(got.Noncurrent) != len(want.Noncurrent) {
		t.Errorf("%d non-current oids, want %d", len(got.Noncurrent), len(want.Noncurrent))
	}
	for k, m := range want.Noncurrent {
		gm := got.Noncurrent[hexU64(t, k)]
		if len(gm) != len(m) {
			t.Errorf("noncurrent[%s] has %d revisions, want %d", k, len(gm), len(m))
		}
		for s, v := range m {
			if g, ok := gm[hexU64(t, s)]; !ok || g != v {
				t.Errorf("noncurrent[%s][%s] = %d, %v; want %d", k, s, g, ok, v)
			}
		}
	}
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// Every fixture file opens with the index the real ClientCache built, and
// opening it at its own size changes no byte.
func TestOpenFixtures(t *testing.T) {
	for _, name := range []string{"tiny.zec", "wrap.zec", "digits.zec", "fixture-1.session1.zec", "fixture-1.session2.zec", "fixture-1.zec", "resize-shrink-65536.zec"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var fx fixtureJSON
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			p := copyFixture(t, name, "c.zec")
			if got := fileSHA(t, p); got != fx.SHA256 {
				t.Fatalf("fixture copy sha %s, json says %s", got, fx.SHA256)
			}
			c, err := Open(p, Options{Size: fx.OpenedWithSize})
			if err != nil {
				t.Fatal(err)
			}
			checkIndex(t, c.Index(), fx.PythonIndex)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := fileSHA(t, p); got != fx.SHA256 {
				t.Errorf("file changed by open/close: %s", got)
			}
			if _, err := os.Stat(p + ".bad"); err == nil {
				t.Error(".bad file made")
			}
		})
	}
}

// clock is a settable trace clock.
type clock struct{ t int64 }

func (c *clock) now() time.Time { return time.Unix(c.t, 0) }

// TestTinyOps replays tiny-ops.txt (ClientCache("tiny.zec", 1000) with
// tracing) and compares the cache file and the trace byte for byte.
func TestTinyOps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tiny.zec")
	clk := &clock{t: 1700100000}
	opt := Options{Size: 1000, Trace: TraceOn, Now: clk.now}
	c, err := Open(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	const o1, o2, o3, o4 = 1, 2, 3, 4
	const t1, t2, t3 = 0x10, 0x20, 0x30
	const maxtid = 1<<63 - 1
	at := func(ts int64) { clk.t = ts }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	expectLoad := func(data []byte, tid uint64, ok bool, err error, wdata string, wtid uint64, wok bool) {
		t.Helper()
		if err != nil || ok != wok || string(data) != wdata || tid != wtid {
			t.Fatalf("load = %q %x %v %v; want %q %x %v", data, tid, ok, err, wdata, wtid, wok)
		}
	}
	expectBefore := func(data []byte, s, e uint64, ok bool, err error, wdata string, ws, we uint64, wok bool) {
		t.Helper()
		if err != nil || ok != wok || string(data) != wdata || s != ws || e != we {
			t.Fatalf("loadBefore = %q %x %x %v %v; want %q %x %x %v", data, s, e, ok, err, wdata, ws, we, wok)
		}
	}
	at(1700100001)
	must(c.SetLastTid(t1))
	at(1700100002)
	must(c.Store(o1, t1, 0, []byte("o1 at t1")))
	at(1700100003)
	must(c.Store(o2, t1, 0, []byte("o2 at t1")))
	at(1700100004)
	d, tid, ok, err := c.Load(o1)
	expectLoad(d, tid, ok, err, "o1 at t1", t1, true)
	at(1700100005)
	d, tid, ok, err = c.Load(o3)
	expectLoad(d, tid, ok, err, "", 0, false)
	at(1700100006)
	must(c.Invalidate(o1, t2))
	at(1700100007)
	must(c.Store(o1, t2, 0, []byte("o1 at t2, longer")))
	at(1700100008)
	must(c.SetLastTid(t2))
	at(1700100009)
	d, s, e, ok, err := c.LoadBefore(o1, t2)
	expectBefore(d, s, e, ok, err, "o1 at t1", t1, t2, true)
	at(1700100010)
	d, s, e, ok, err = c.LoadBefore(o1, maxtid)
	expectBefore(d, s, e, ok, err, "o1 at t2, longer", t2, 0, true)
	at(1700100011)
	d, s, e, ok, err = c.LoadBefore(o2, t1)
	expectBefore(d, s, e, ok, err, "", 0, 0, false)
	at(1700100012)
	d, s, e, ok, err = c.LoadBefore(o4, t2)
	expectBefore(d, s, e, ok, err, "", 0, 0, false)
	at(1700100013)
	must(c.Store(o3, t1, t2, []byte("o3 non-current")))
	at(1700100014)
	d, s, e, ok, err = c.LoadBefore(o3, t2)
	expectBefore(d, s, e, ok, err, "o3 non-current", t1, t2, true)
	at(1700100015)
	d, s, e, ok, err = c.LoadBefore(o3, t3)
	expectBefore(d, s, e, ok, err, "", 0, 0, false)
	at(1700100016)
	must(c.Invalidate(o2, 0))
	at(1700100017)
	must(c.Invalidate(o4, t3))
	at(1700100018)
	must(c.Invalidate(o4, 0))
	at(1700100019)
	must(c.SetLastTid(t3))
	at(1700100020)
	must(c.Store(o1, t2, 0, []byte("o1 at t2, longer")))
	at(1700100021)
	if err := c.Store(o1, t3, 0, []byte("x")); !errors.Is(err, ErrAlreadyCurrent) {
		t.Fatalf("store of a different current revision: %v", err)
	}
	at(1700100022)
	must(c.Store(o4, t1, 0, bytes.Repeat([]byte("y"), 2000)))
	at(1700100023)
	if n := c.Len(); n != 3 {
		t.Fatalf("len %d", n)
	}
	at(1700100024)
	must(c.Close())

	at(1700100084)
	c, err = Open(p, opt)
	must(err)
	at(1700100085)
	if c.LastTid() != t3 {
		t.Fatalf("last tid %x", c.LastTid())
	}
	at(1700100086)
	d, tid, ok, err = c.Load(o1)
	expectLoad(d, tid, ok, err, "o1 at t2, longer", t2, true)
	at(1700100087)
	d, s, e, ok, err = c.LoadBefore(o1, t2)
	expectBefore(d, s, e, ok, err, "o1 at t1", t1, t2, true)
	at(1700100088)
	if n := c.Len(); n != 3 {
		t.Fatalf("len %d", n)
	}
	at(1700100089)
	must(c.Close())

	for _, f := range []string{"tiny.zec", "tiny.zec.trace"} {
		want, _ := os.ReadFile(filepath.Join("testdata", f))
		got, _ := os.ReadFile(filepath.Join(dir, f))
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the fixture:\n got %x\nwant %x", f, got, want)
		}
	}
}

func letters(c byte, n int) []byte { return bytes.Repeat([]byte{c}, n) }

// TestWrapOps replays wrap-ops.txt: rearrangement, eviction, wrapping.
func TestWrapOps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "wrap.zec")
	c, err := Open(p, Options{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const T, T2 = 0x100, 0x200
	for i := uint64(1); i <= 13; i++ {
		if err := c.Store(i, T, 0, letters(byte('A'+i-1), 20)); err != nil {
			t.Fatal(err)
		}
	}
	if ofs := c.Index().CurrentOfs; ofs != 831 {
		t.Fatalf("currentofs %d", ofs)
	}
	d, tid, ok, err := c.Load(1)
	if err != nil || !ok || tid != T || string(d) != strings.Repeat("A", 20) {
		t.Fatalf("load(o1) = %q %x %v %v", d, tid, ok, err)
	}
	ix := c.Index()
	if ix.CurrentOfs != 894 || ix.Current[1] != 831 {
		t.Fatalf("after rearrange: currentofs %d, o1 at %d", ix.CurrentOfs, ix.Current[1])
	}
	c.Store(20, T, 0, letters('L', 400))
	if ofs := c.Index().CurrentOfs; ofs != 455 {
		t.Fatalf("currentofs %d", ofs)
	}
	c.Store(21, T, 0, letters('M', 253))
	if ofs := c.Index().CurrentOfs; ofs != 751 {
		t.Fatalf("currentofs %d", ofs)
	}
	c.Invalidate(21, T2)
	c.Store(22, T, 0, letters('N', 300))
	ix = c.Index()
	if ix.CurrentOfs != 355 || ix.Len != 4 || len(ix.Current) != 3 {
		t.Fatalf("currentofs %d len %d current %v", ix.CurrentOfs, ix.Len, ix.Current)
	}
	for _, o := range []uint64{1, 13, 22} {
		if _, ok := ix.Current[o]; !ok {
			t.Errorf("o%d not current", o)
		}
	}
	if st := c.Stats(); st != (Stats{16, 1901, 12, 1136, 1}) {
		t.Errorf("stats %+v", st)
	}
	c.Close()
	c, err = Open(p, Options{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if ix := c.Index(); ix.CurrentOfs != 355 || ix.Len != 4 {
		t.Errorf("reopen: currentofs %d len %d", ix.CurrentOfs, ix.Len)
	}
	c.Close()
	want, _ := os.ReadFile("testdata/wrap.zec")
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, want) {
		t.Errorf("wrap.zec differs:\n got %x\nwant %x", got, want)
	}
}

// TestDigitsOps replays digits-ops.txt: a 4-byte free block ('4').
func TestDigitsOps(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "digits.zec")
	c, err := Open(p, Options{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	const T = 0x300
	for _, s := range []struct {
		oid uint64
		n   int
		ofs int64
	}{{1, 400, -1}, {2, 400, -1}, {3, 50, 991}, {4, 100, -1}, {5, 253, 451}} {
		if err := c.Store(s.oid, T, 0, letters(byte('A'+s.oid-1), s.n)); err != nil {
			t.Fatal(err)
		}
		if ofs := c.Index().CurrentOfs; s.ofs >= 0 && ofs != s.ofs {
			t.Fatalf("after o%d: currentofs %d, want %d", s.oid, ofs, s.ofs)
		}
	}
	if c.Len() != 4 {
		t.Fatalf("len %d", c.Len())
	}
	c.Close()
	c, err = Open(p, Options{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if ix := c.Index(); ix.CurrentOfs != 451 || ix.Len != 4 {
		t.Errorf("reopen: currentofs %d len %d", ix.CurrentOfs, ix.Len)
	}
	c.Close()
	want, _ := os.ReadFile("testdata/digits.zec")
	got, _ := os.ReadFile(p)
	if !bytes.Equal(got, want) {
		t.Errorf("digits.zec differs:\n got %x\nwant %x", got, want)
	}
}
