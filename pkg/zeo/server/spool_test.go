package server

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// serveMapping starts a server on a MappingStorage and returns it too.
func serveMapping(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	return serve(t, map[string]storage.Storage{"1": mappingstorage.New("", false)}, opts)
}

// openSpools counts this process's descriptors open on spool files.
func openSpools(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, "zeo-txn-") {
			n++
		}
	}
	return n
}

func record(i, size int) []byte {
	return bytes.Repeat([]byte{byte('a' + i%26)}, size)
}

// Past transaction-memory a transaction's stores go to a spool file;
// across connections past the total they spool too. The data comes back
// intact at the vote (conflict dicts included), and the memory and the
// file are released by tpc_finish, tpc_abort and a disconnect. A spool
// file left in the directory is removed when the server starts.
func TestStoresSpooledPastMemoryLimit(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "zeo-txn-123.spool")
	if err := os.WriteFile(stale, []byte("left by a crash"), 0o600); err != nil {
		t.Fatal(err)
	}
	const perTxn, total, size = 64 << 10, 96 << 10, 16 << 10
	srv, addr := serveMapping(t, Options{TxnMemory: perTxn, TotalTxnMemory: total, SpoolDir: dir})
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale spool file not removed at start: %v", err)
	}
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{})
	txa, _ := a.Begin("", "", nil)
	txb, _ := b.Begin("", "", nil)
	for i := range 40 {
		if err := txa.Store(storage.OID(100+i), 0, record(i, size)); err != nil {
			t.Fatal(err)
		}
		if err := txb.Store(storage.OID(200+i), 0, record(i, size)); err != nil {
			t.Fatal(err)
		}
	}
	a.Ping()
	b.Ping()
	if got := srv.txnMemory.Load(); got > total {
		t.Errorf("transactions hold %d bytes in memory, over the total of %d", got, total)
	}
	if n := openSpools(t); n != 2 {
		t.Errorf("%d spool files open, want 2 (one per transaction)", n)
	}
	if _, _, err := txa.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := txa.Finish(); err != nil {
		t.Fatal(err)
	}
	txb.Abort()
	b.Ping()
	if got, n := srv.txnMemory.Load(), openSpools(t); got != 0 || n != 0 {
		t.Errorf("after finish and abort: %d bytes in memory, %d spool files open; want none", got, n)
	}
	for i := range 40 {
		data, _, err := b.Load(storage.OID(100 + i))
		if err != nil || !bytes.Equal(data, record(i, size)) {
			t.Fatalf("oid %d after a spooled commit: %d bytes, %v", 100+i, len(data), err)
		}
		if _, _, err := b.Load(storage.OID(200 + i)); !client.IsClass(err, "POSKeyError") {
			t.Fatalf("aborted store of oid %d visible: %v", 200+i, err)
		}
	}
	// A conflict on a spooled store hands back the data sent.
	tx, _ := a.Begin("", "", nil)
	for i := range 10 {
		tx.Store(storage.OID(300+i), 0, record(i, size))
	}
	tx.Store(100, tid.TID(1), []byte("stale"))
	conflicts, _, err := tx.Vote()
	if err != nil || len(conflicts) != 1 || conflicts[0].OID != 100 || string(conflicts[0].Data) != "stale" {
		t.Fatalf("vote with a conflict in a spooled transaction: %v %v", conflicts, err)
	}
	tx.Abort()
	// A disconnect mid-transaction releases it too.
	tx, _ = b.Begin("", "", nil)
	for i := range 10 {
		tx.Store(storage.OID(400+i), 0, record(i, size))
	}
	b.Ping()
	b.Close()
	waitFor(t, func() bool { return srv.txnMemory.Load() == 0 && openSpools(t) == 0 })
}

// A transaction with more bytes of data than max-transaction-size fails
// at its vote with a StorageTransactionError saying so; nothing of it
// is stored and the connection goes on.
func TestMaxTransactionSize(t *testing.T) {
	var rec logRecorder
	_, addr := serveMapping(t, Options{MaxTxnSize: 100 << 10, TxnMemory: 32 << 10, SpoolDir: t.TempDir(), Log: rec.log})
	c := dial(t, addr, client.Options{})
	tx, _ := c.Begin("", "", nil)
	for i := range 3 {
		tx.Store(storage.OID(1+i), 0, record(i, 50<<10))
	}
	_, _, err := tx.Vote()
	want := fmt.Sprintf("too large: more than %d bytes of data (max-transaction-size)", 100<<10)
	if !client.IsClass(err, "StorageTransactionError") || !strings.Contains(err.Error(), want) {
		t.Fatalf("vote of a 150 KiB transaction: %v, want StorageTransactionError %q", err, want)
	}
	if rec.count("transaction refused: "+want) != 1 {
		t.Errorf("refusal not logged:\n%s", &rec)
	}
	if n := openSpools(t); n != 0 {
		t.Errorf("%d spool files left open after the refusal", n)
	}
	for i := range 3 {
		if _, _, err := c.Load(storage.OID(1 + i)); !client.IsClass(err, "POSKeyError") {
			t.Fatalf("refused store of oid %d visible: %v", 1+i, err)
		}
	}
	commit(t, c, nil, map[storage.OID][]byte{1: record(0, 50<<10)})
}
