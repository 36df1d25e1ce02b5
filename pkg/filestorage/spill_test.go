package filestorage

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A transaction larger than spillAt moves its records to an unlinked
// file beside Data.fs instead of holding them in memory; Vote writes
// the same bytes a small transaction would, the records load back after
// a reopen, and an aborted large transaction leaves the file as it was.
func TestLargeTransactionSpills(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Data.fs")
	s, err := Open(p, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 48, 1 << 20
	rec := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, size) }
	data := make([][]byte, n)
	for i := range data {
		data[i] = rec(i)
	}
	x, err := s.Begin(TxnMeta{User: []byte("u"), Description: []byte("large")})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		if err := x.Store(Oid(i+1), 0, data[i]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&m1)
	if x.spill == nil || x.spilled == 0 {
		t.Fatalf("a %d MiB transaction was not spilled", n)
	}
	// append's growth of the buffer up to spillAt, not the transaction
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 6*spillAt {
		t.Errorf("storing %d MiB allocated %d MiB", n, got>>20)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	// An aborted large transaction (after its vote) leaves the file as it was.
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	x, _ = s.Begin(TxnMeta{})
	for i := range n {
		x.Store(Oid(1000+i), 0, data[i])
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	x.Abort()
	if after, _ := os.Stat(p); after.Size() != before.Size() {
		t.Errorf("abort of a spilled transaction left %d bytes, want %d", after.Size(), before.Size())
	}
	s.Close()
	if names, _ := filepath.Glob(filepath.Join(dir, ".fs-txn-*")); len(names) != 0 {
		t.Errorf("spill files left: %s", strings.Join(names, " "))
	}
	s, err = Open(p, Options{})
	if err != nil {
		t.Fatalf("reopening after a spilled transaction: %v", err)
	}
	defer s.Close()
	for i := range n {
		got, _, err := s.Load(Oid(i + 1))
		if err != nil || !bytes.Equal(got, data[i]) {
			t.Fatalf("oid %d: %d bytes, %v", i+1, len(got), err)
		}
	}
}
