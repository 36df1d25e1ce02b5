package mappingstorage

import (
	"errors"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

func commit(t *testing.T, s *Storage, store func(storage.Transaction) error) tid.TID {
	t.Helper()
	tx, err := s.Begin(storage.TxnMeta{Description: []byte("d")})
	if err != nil {
		t.Fatal(err)
	}
	if err := store(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadBeforeAndConflicts(t *testing.T) {
	s := New("", false)
	if s.Len() != 0 || s.LastTransaction() != 0 {
		t.Fatal("new storage not empty")
	}
	var pk *storage.POSKeyError
	if _, _, _, _, err := s.LoadBefore(0, tid.Max); !errors.As(err, &pk) {
		t.Errorf("missing root: %v", err)
	}
	t1 := commit(t, s, func(tx storage.Transaction) error { return tx.Store(1, 0, []byte("a")) })
	t2 := commit(t, s, func(tx storage.Transaction) error { return tx.Store(1, t1, []byte("b")) })
	if t2 <= t1 {
		t.Fatalf("tids %v %v", t1, t2)
	}
	d, start, end, ok, err := s.LoadBefore(1, t2)
	if err != nil || !ok || string(d) != "a" || start != t1 || end != t2 {
		t.Errorf("LoadBefore(t2) = %q %v %v %v %v", d, start, end, ok, err)
	}
	if _, _, _, ok, err := s.LoadBefore(1, t1); ok || err != nil {
		t.Errorf("LoadBefore(t1) = %v %v, want no revision", ok, err)
	}
	// Uncommitted data is invisible; a stale serial conflicts.
	tx, _ := s.Begin(storage.TxnMeta{})
	if err := tx.Store(1, t2, []byte("c")); err != nil {
		t.Fatal(err)
	}
	if d, _, _, _, _ := s.LoadBefore(1, tid.Max); string(d) != "b" {
		t.Errorf("uncommitted data visible: %q", d)
	}
	tx.Abort()
	tx, _ = s.Begin(storage.TxnMeta{})
	var ce *storage.ConflictError
	if err := tx.Store(1, t1, []byte("x")); !errors.As(err, &ce) || ce.Committed != t2 || ce.Serial != t1 {
		t.Errorf("stale store: %v", err)
	}
	if err := tx.CheckCurrent(1, t1); !errors.As(err, &ce) || !ce.Read {
		t.Errorf("readCurrent: %v", err)
	}
	tx.Abort()
	// Delete: loads then raise POSKeyError; the oid counter stays above.
	t3 := commit(t, s, func(tx storage.Transaction) error { return tx.Delete(1, t2) })
	if _, _, _, _, err := s.LoadBefore(1, tid.Max); !errors.As(err, &pk) {
		t.Errorf("deleted object: %v", err)
	}
	if o, _ := s.NewOID(); o <= 1 {
		t.Errorf("NewOID %v collides", o)
	}
	inv, _ := s.LastInvalidations(2)
	if len(inv) != 2 || inv[1].TID != t3 || inv[1].OIDs[0] != 1 {
		t.Errorf("LastInvalidations %+v", inv)
	}
	// Pack after the deletion drops the object entirely.
	if err := s.Pack(t3, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.History(1, 10); !errors.As(err, &pk) {
		t.Errorf("history after pack: %v", err)
	}
	if s.LastTransaction() != t3 {
		t.Errorf("last transaction moved by pack: %v", s.LastTransaction())
	}
}

func TestReadOnly(t *testing.T) {
	s := New("ro", true)
	if _, err := s.Begin(storage.TxnMeta{}); !errors.Is(err, storage.ErrReadOnly) {
		t.Errorf("Begin on read-only: %v", err)
	}
	if !s.Info().ReadOnly || s.Info().Name != "ro" {
		t.Errorf("info %+v", s.Info())
	}
}

// Len is kept as a counter: stores, deletions, restores of a deletion
// and pack must leave it equal to the objects whose newest revision is
// not a deletion.
func TestLenCounter(t *testing.T) {
	s := New("", false)
	count := func() int {
		n := 0
		for _, r := range s.revs {
			if r[len(r)-1].data != nil {
				n++
			}
		}
		return n
	}
	check := func(step string, want int) {
		t.Helper()
		if got := s.Len(); got != want || got != count() {
			t.Errorf("%s: Len() = %d, want %d (walk %d)", step, got, want, count())
		}
	}
	t1 := commit(t, s, func(tx storage.Transaction) error {
		for o := storage.OID(0); o < 3; o++ {
			if err := tx.Store(o, 0, []byte("a")); err != nil {
				return err
			}
		}
		return nil
	})
	check("three stores", 3)
	commit(t, s, func(tx storage.Transaction) error { return tx.Store(0, t1, []byte("b")) })
	check("a new revision", 3)
	t3 := commit(t, s, func(tx storage.Transaction) error { return tx.Delete(1, t1) })
	check("a deletion", 2)
	commit(t, s, func(tx storage.Transaction) error { return tx.Restore(1, t3, []byte("c"), 0) })
	check("a restore over the deletion", 3)
	commit(t, s, func(tx storage.Transaction) error { return tx.Delete(2, t1) })
	check("another deletion", 2)
	if err := s.Pack(tid.Max, false); err != nil {
		t.Fatal(err)
	}
	check("pack", 2)
}
