package cache

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A crash between the two writes of a store (free header + body first,
// then the 'a' header) leaves a file that opens without the new record
// and without losing anything else: the walked space is one free block.
func TestCrashBetweenWrites(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.zec")
	c := mustOpen(t, p, Options{Size: 400})
	for i := uint64(1); i <= 5; i++ {
		if err := c.Store(i, 0x10, 0, make([]byte, 30)); err != nil {
			t.Fatal(err)
		}
	}
	snap := filepath.Join(dir, "snap.zec")
	c.afterBody = func() {
		if err := os.WriteFile(snap, readFile(t, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// 5 x 73 bytes from 12 leave 23 bytes: this store wraps and evicts
	// oids 1 and 2.
	if err := c.Store(9, 0x20, 0, make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	s := mustOpen(t, snap, Options{Size: 400})
	ix := s.Index()
	if _, ok := ix.Current[9]; ok {
		t.Error("half-written record indexed")
	}
	for _, o := range []uint64{3, 4, 5} {
		if _, ok := ix.Current[o]; !ok {
			t.Errorf("o%d lost", o)
		}
	}
	if ix.Len != 3 || ix.CurrentOfs != 12 {
		t.Errorf("len %d, currentofs %d (the free block left by the crash)", ix.Len, ix.CurrentOfs)
	}
	if _, err := os.Stat(snap + ".bad"); err == nil {
		t.Error("crashed file discarded")
	}
	walk(t, s)
}

// The cache serialises concurrent callers (run with -race).
func TestConcurrentUse(t *testing.T) {
	c := mustOpen(t, filepath.Join(t.TempDir(), "c.zec"), Options{Size: 8192})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				oid := uint64(i % 17)
				tid := uint64(0x100 + i*4 + g)
				c.Store(oid, tid, 0, make([]byte, 20+g))
				c.Load(oid)
				c.LoadBefore(oid, tid)
				c.Invalidate(oid, tid+1000)
			}
		}(g)
	}
	wg.Wait()
	walk(t, c)
	if n := c.Len(); n <= 0 {
		t.Errorf("len %d", n)
	}
}
