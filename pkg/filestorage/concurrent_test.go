package filestorage

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// TestConcurrentPack runs committers and readers while the storage is
// packed repeatedly: commits made during a pack survive it, and readers
// always see consistent data.
func TestConcurrentPack(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A root referencing 10 objects, revised often; garbage on the side.
	const n = 10
	root := func(i int) []byte {
		// protocol-3 pickles: class, then a tuple of references
		b := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03(")
		for o := 1; o <= n; o++ {
			b = append(b, 'C', 8, 0, 0, 0, 0, 0, 0, 0, byte(o), 'Q')
		}
		return append(b, []byte(fmt.Sprintf("X\x01\x00\x00\x00%ct.", 'a'+i%26))...)
	}
	leaf := func(o, i int) []byte {
		return []byte(fmt.Sprintf("\x80\x03N.\x80\x03X\x08\x00\x00\x00%04d%04d.", o, i%10000))
	}
	x, _ := s.Begin(TxnMeta{})
	x.Store(0, 0, root(0))
	for o := 1; o <= n; o++ {
		x.Store(Oid(o), 0, leaf(o, 0))
	}
	x.Vote()
	x.Finish()
	s.NewOids(n)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var mu sync.Mutex
	last := map[Oid][]byte{}
	errs := make(chan error, 10)
	wg.Add(1)
	go func() { // committer: revises leaves, adds garbage
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			o := Oid(1 + i%n)
			serial, err := s.GetTid(o)
			if err != nil {
				errs <- err
				return
			}
			garbage, _ := s.NewOids(1)
			x, err := s.Begin(TxnMeta{})
			if err != nil {
				errs <- err
				return
			}
			d := leaf(int(o), i)
			if err := x.Store(o, serial, d); err != nil {
				errs <- err
				x.Abort()
				return
			}
			x.Store(garbage[0], 0, []byte("\x80\x03N.\x80\x03N."))
			if err := x.Vote(); err != nil {
				errs <- err
				return
			}
			if _, err := x.Finish(); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			last[o] = d
			mu.Unlock()
		}
	}()
	wg.Add(1)
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for o := Oid(0); o <= n; o++ {
				if _, _, err := s.Load(o); err != nil {
					errs <- fmt.Errorf("load %d: %w", o, err)
					return
				}
			}
		}
	}()
	for i := 0; i < 15; i++ {
		if err := s.Pack(tid.Now(), true); err != nil && !errors.Is(err, ErrPackInProgress) {
			t.Errorf("pack %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for o, want := range last {
		d, _, err := s.Load(o)
		if err != nil || string(d) != string(want) {
			t.Errorf("oid %d: %q %v, want %q", o, d, err, want)
		}
	}
	if err := Check(p, CheckOptions{Pointers: true}); err != nil {
		t.Fatal(err)
	}
	// Garbage was collected: only the root and its leaves (plus garbage
	// committed after the last pack time) remain.
	if s.Len() > 1+n+1000 {
		t.Errorf("len %d after packs", s.Len())
	}
}
