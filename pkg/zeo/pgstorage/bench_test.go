package pgstorage

import (
	"testing"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// BenchmarkCommitOneObject: one-object transactions through the storage
// (vote and finish, two round trips plus the prior-commits read).
func BenchmarkCommitOneObject(b *testing.B) {
	s := open(b, pgsandbox.NewDatabase(b), true)
	serial := tid.TID(0)
	data := make([]byte, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := s.Begin(storage.TxnMeta{})
		if err != nil {
			b.Fatal(err)
		}
		tx.Store(1, serial, data)
		if err := tx.Vote(); err != nil {
			b.Fatal(err)
		}
		if serial, err = tx.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadBefore: exact loadBefore of one object (history-preserving).
func BenchmarkLoadBefore(b *testing.B) {
	s := open(b, pgsandbox.NewDatabase(b), true)
	tx, _ := s.Begin(storage.TxnMeta{})
	tx.Store(1, 0, make([]byte, 100))
	tx.Vote()
	t1, err := tx.Finish()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, _, ok, err := s.LoadBefore(1, t1+1); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
}
