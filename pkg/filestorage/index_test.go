package filestorage

import (
	"math/rand"
	"path/filepath"
	"sort"
	"testing"
)

// TestIndexRandom checks the compact index against a map under random
// inserts and updates (including keys inserted below existing ones and
// across prefixes), and through a save/load round trip.
func TestIndexRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := NewIndex()
	ref := map[Oid]int64{}
	for i := 0; i < 50000; i++ {
		var o Oid
		switch rng.Intn(3) {
		case 0:
			o = Oid(rng.Intn(200000))
		case 1:
			o = Oid(rng.Int63())
		default:
			o = Oid(i)
		}
		p := rng.Int63n(maxPos)
		x.Set(o, p)
		ref[o] = p
	}
	check := func(x *Index) {
		t.Helper()
		if x.Len() != len(ref) {
			t.Fatalf("len %d, want %d", x.Len(), len(ref))
		}
		for o, p := range ref {
			if g, ok := x.Get(o); !ok || g != p {
				t.Fatalf("oid %d: %d %v, want %d", o, g, ok, p)
			}
		}
		var keys []Oid
		for o := range ref {
			keys = append(keys, o)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		i := 0
		x.Range(func(o Oid, p int64) bool {
			if o != keys[i] {
				t.Fatalf("range %d: %d, want %d", i, o, keys[i])
			}
			i++
			return true
		})
		if m, _ := x.MaxKey(); m != keys[len(keys)-1] {
			t.Fatalf("max %d", m)
		}
		if c, _, ok := x.Ceil(keys[10] + 1); !ok || c != keys[11] {
			t.Fatalf("ceil %d", c)
		}
	}
	check(x)
	p := filepath.Join(t.TempDir(), "x.index")
	if err := WriteIndex(p, 12345, x); err != nil {
		t.Fatal(err)
	}
	pos, y, err := ReadIndex(p)
	if err != nil || pos != 12345 {
		t.Fatal(pos, err)
	}
	check(y)
	// Mutating a loaded index (buckets inside the file bytes).
	for o := range ref {
		ref[o]++
		y.Set(o, ref[o])
		break
	}
	y.Set(Oid(1<<40+5), 77)
	ref[Oid(1<<40+5)] = 77
	check(y)
}
