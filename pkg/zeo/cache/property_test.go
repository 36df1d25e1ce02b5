package cache

import (
	"maps"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// After any sequence of client operations, opening the file again
// rebuilds exactly the index the cache had in memory (spec §1.7), and the
// data read back is what was stored.
func TestReopenRebuildsIndex(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		p := filepath.Join(t.TempDir(), "c.zec")
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
		c.Close()
		c = mustOpen(t, p, Options{Size: size})
		got := c.Index()
		if got.Len != live.Len || got.LastTid != live.LastTid || !maps.Equal(got.Current, live.Current) {
			t.Fatalf("seed %d: reopened len %d tid %x current %v; live len %d tid %x current %v", seed, got.Len, got.LastTid, got.Current, live.Len, live.LastTid, live.Current)
		}
		if !maps.EqualFunc(got.Noncurrent, live.Noncurrent, func(a, b map[uint64]int64) bool { return maps.Equal(a, b) }) {
			t.Fatalf("seed %d: non-current %v, live %v", seed, got.Noncurrent, live.Noncurrent)
		}
		for oid := range got.Current {
			d, start, ok, err := c.Load(oid)
			if err != nil || !ok || string(d) != want[[2]uint64{oid, start}] {
				t.Fatalf("seed %d: load(%d) = %q %x %v %v", seed, oid, d, start, ok, err)
			}
		}
		walk(t, c)
		c.Close()
	}
}
