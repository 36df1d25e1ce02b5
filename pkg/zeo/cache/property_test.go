package cache

import (
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// randomHistory runs the client-like operation sequence of seed on a new
// cache at p, sets the last tid, closes it and returns the file size used,
// the data last stored per (oid, start) and the index the live cache had.
func randomHistory(t *testing.T, seed uint64, p string) (int64, map[[2]uint64]string, Index) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	size := int64(500 + rng.IntN(5000))
	c := mustOpen(t, p, Options{Size: size})
	tid := uint64(0x1000)
	want := map[[2]uint64]string{} // (oid, start) -> data, last stored
	for i := 0; i < 400; i++ {
		oid := uint64(rng.IntN(12))
		switch rng.IntN(6) {
		case 0, 1:
			tid++
			data := string(rune('a'+oid)) + string(make([]byte, rng.IntN(300)))
			if c.Store(oid, tid, 0, []byte(data)) == nil {
				want[[2]uint64{oid, tid}] = data
			}
		case 2:
			c.Load(oid)
		case 3:
			c.LoadBefore(oid, tid-uint64(rng.IntN(5)))
		case 4:
			tid++
			c.Invalidate(oid, tid)
		case 5:
			if rng.IntN(4) == 0 {
				c.Invalidate(oid, 0)
			}
		}
	}
	c.SetLastTid(tid)
	live := c.Index()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return size, want, live
}

// After any sequence of client operations, opening the file again
// rebuilds exactly the index the cache had in memory (as ZEO 6.0 ClientCache._initfile rebuilds it), and the
// data read back is what was stored.
func TestReopenRebuildsIndex(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		p := filepath.Join(t.TempDir(), "c.zec")
		size, want, live := randomHistory(t, seed, p)
		c := mustOpen(t, p, Options{Size: size})
		got := c.Index()
		if got.Len != live.Len || got.LastTid != live.LastTid || !maps.Equal(got.Current, live.Current) {
			t.Fatalf("seed %d: reopened len %d tid %x current %v; live len %d tid %x current %v", seed, got.Len, got.LastTid, got.Current, live.Len, live.LastTid, live.Current)
		}
		if !maps.EqualFunc(got.Noncurrent, live.Noncurrent, func(a, b map[uint64]int64) bool { return maps.Equal(a, b) }) {
			t.Fatalf("seed %d: non-current %v, live %v", seed, got.Noncurrent, live.Noncurrent)
		}
		// Non-current hits never move records.
		for oid, revs := range got.Noncurrent {
			for start := range revs {
				d, s, _, ok, err := c.LoadBefore(oid, start+1)
				if err != nil || !ok || s != start || string(d) != want[[2]uint64{oid, start}] {
					t.Fatalf("seed %d: loadBefore(%d, %x) = %q %x %v %v", seed, oid, start+1, d, s, ok, err)
				}
			}
		}
		// In a fixed order: a current hit far behind the ring pointer is
		// copied forward and evicts what lies there, possibly another
		// record of this list (ZEO does the same; the pointer of a
		// reopened cache is the first free block, so this happens a lot
		// here).  Such a record then misses, and only such a record.
		for _, oid := range slices.Sorted(maps.Keys(got.Current)) {
			if checkLoad(t, c, oid, want) {
				continue
			}
			t.Logf("seed %d: oid %d evicted by an earlier copy-forward", seed, oid)
		}
		walk(t, c)
		c.Close()
	}
}

// checkLoad loads oid and checks the outcome against the index before and
// after: a hit returns the data stored for (oid, start) and leaves the
// record current (copied forward or not); a miss is only allowed when oid
// was no longer indexed (evicted by an earlier copy-forward).  The file
// is walked after the load.  It reports whether the load hit.
func checkLoad(t *testing.T, c *Cache, oid uint64, want map[[2]uint64]string) bool {
	t.Helper()
	before := c.Index()
	_, indexed := before.Current[oid]
	d, start, ok, err := c.Load(oid)
	after := c.Index()
	walk(t, c)
	if err != nil || ok != indexed {
		t.Fatalf("load(%d) = %q %x %v %v with index entry %v", oid, d, start, ok, err, indexed)
	}
	if !ok {
		return false
	}
	if string(d) != want[[2]uint64{oid, start}] {
		t.Fatalf("load(%d) = %q at %x, stored %q", oid, d, start, want[[2]uint64{oid, start}])
	}
	ofs, still := after.Current[oid]
	if !still {
		t.Fatalf("load(%d) hit but the oid is no longer current", oid)
	}
	if ofs != before.Current[oid] {
		// Copied forward: to the ring pointer (or the file start when
		// the record does not fit before the end), and everything it
		// evicted was indexed at or after that place.
		if ofs != before.CurrentOfs && ofs != HeaderSize {
			t.Fatalf("load(%d) copied the record from %d to %d, ring pointer was %d", oid, before.Current[oid], ofs, before.CurrentOfs)
		}
		for o, at := range before.Current {
			if _, kept := after.Current[o]; !kept && (o == oid || at < ofs || at > after.CurrentOfs) {
				t.Fatalf("load(%d) copying to %d..%d dropped oid %d at %d", oid, ofs, after.CurrentOfs, o, at)
			}
		}
	} else if !maps.Equal(before.Current, after.Current) || after.Len != before.Len {
		t.Fatalf("load(%d) in place changed the index: %v -> %v", oid, before.Current, after.Current)
	}
	return true
}

// Regression for the flaky TestReopenRebuildsIndex (about 8 failures in
// 60 runs, always "seed 4: load(1) = "" 0 false <nil>"): after reopening
// seed 4's file the ring pointer (the first free block, 922) lies just
// before oid 1's record (1007), and oid 0's record (1213) is more than
// 0.8 of the file behind it.  Loading oid 0 first copies it forward to
// 922, which evicts oid 1; loading oid 1 first copies oid 1 forward in
// place of the same bytes and both hit.  The test used to iterate the
// index map, so the order, and the result, was random.  Python's
// ClientCache gives the same outcome for this file (load(0) then load(1)
// -> None), so the cache was right and the test's expectation wrong.
func TestReopenSeed4LoadOrders(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.zec")
	size, want, live := randomHistory(t, 4, p)
	orig := readFile(t, p)
	oids := slices.Sorted(maps.Keys(live.Current))
	if !slices.Equal(oids, []uint64{0, 1, 9, 11}) {
		t.Fatalf("seed 4 history changed: current %v", live.Current)
	}
	// Every order of the four loads.
	var perms [][]uint64
	var permute func(pre, rest []uint64)
	permute = func(pre, rest []uint64) {
		if len(rest) == 0 {
			perms = append(perms, slices.Clone(pre))
			return
		}
		for i := range rest {
			permute(append(pre, rest[i]), append(slices.Clone(rest[:i]), rest[i+1:]...))
		}
	}
	permute(nil, oids)
	for _, order := range perms {
		writeFile(t, p, orig)
		c := mustOpen(t, p, Options{Size: size})
		ix := c.Index()
		if ix.CurrentOfs != 922 || ix.Current[0] != 1213 || ix.Current[1] != 1007 {
			t.Fatalf("seed 4 file changed: pointer %d current %v", ix.CurrentOfs, ix.Current)
		}
		var hits []uint64
		for _, oid := range order {
			if checkLoad(t, c, oid, want) {
				hits = append(hits, oid)
			}
		}
		// Oid 1 misses exactly when oid 0 was loaded before it.
		lost := slices.Index(order, 0) < slices.Index(order, 1)
		if slices.Contains(hits, 1) == lost || len(hits) != 4-boolInt(lost) {
			t.Fatalf("order %v: hits %v", order, hits)
		}
		left := c.Index()
		if left.Len != live.Len-boolInt(lost) {
			t.Fatalf("order %v: len %d, had %d", order, left.Len, live.Len)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		// What the loads left reopens to the same index.
		c = mustOpen(t, p, Options{Size: size})
		got := c.Index()
		if got.Len != left.Len || !maps.Equal(got.Current, left.Current) ||
			!maps.EqualFunc(got.Noncurrent, left.Noncurrent, func(a, b map[uint64]int64) bool { return maps.Equal(a, b) }) {
			t.Fatalf("order %v: reopened %+v, left %+v", order, got, left)
		}
		walk(t, c)
		c.Close()
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
