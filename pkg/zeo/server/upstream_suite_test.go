package server

// Behaviour ZEO 6.0.0's own test suite (and the ZODB 6.3 storage tests it
// runs) expects of the server; each test's comment names the upstream case.

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// rawTxn begins a transaction with raw calls, so a test can send
// arguments client.Txn never would (None, wrong types).
func rawTxn(t *testing.T, c *client.Client, id int64) {
	t.Helper()
	if err := c.CallAsync("tpc_begin", id, []byte("u"), []byte("d"), wire.NewDict(), nil, " "); err != nil {
		t.Fatal(err)
	}
}

// ZODB's storage tests store new objects with serial=None
// (testSerialIsNoneForInitialRevision, checkPackUndoLog...), which ZEO 6.0
// passes on to the storage: a new object commits, an existing one
// conflicts, and the connection stays open.
func TestStoreaSerialNone(t *testing.T) {
	addr, ms := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	rawTxn(t, c, 1)
	if err := c.CallAsync("storea", storage.OID(5).Bytes(), nil, []byte("new"), int64(1)); err != nil {
		t.Fatal(err)
	}
	v, err := c.Call("vote", int64(1))
	if err != nil || !wire.Equal(v, wire.List{}) {
		t.Fatalf("vote = %s, %v; want [] and no error", wire.Repr(v), err)
	}
	fin, err := c.Call("tpc_finish", int64(1))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := wire.AsBytes(fin)
	data, serial, _, ok, err := ms.LoadBefore(5, tid.Max)
	if err != nil || !ok || string(data) != "new" || storage.TIDBytes(serial) == nil || tid.FromBytes(b) != serial {
		t.Fatalf("stored %q at %v (finish said %x), %v", data, serial, b, err)
	}

	// An existing object with serial None conflicts, as in FileStorage.store.
	rawTxn(t, c, 2)
	if err := c.CallAsync("storea", storage.OID(5).Bytes(), nil, []byte("again"), int64(2)); err != nil {
		t.Fatal(err)
	}
	v, err = c.Call("vote", int64(2))
	seq, _ := wire.AsSeq(v)
	if err != nil || len(seq) != 1 {
		t.Fatalf("vote = %s, %v; want one conflict dict", wire.Repr(v), err)
	}
	if _, err := c.Call("tpc_abort", int64(2)); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(); err != nil {
		t.Fatalf("connection closed: %v", err)
	}
}

// ZEO 6.0's ZEOStorage.storea only logs its arguments for the vote, so a
// bad value makes the vote fail with the error while the connection
// stays usable; a missing argument (a TypeError at the call) closes it.
func TestOneWayBadArgumentFailsVote(t *testing.T) {
	addr, ms := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	calls := []struct {
		method string
		args   []any
	}{
		{"storea", []any{storage.OID(1).Bytes(), nil, int64(42), int64(7)}},
		{"storea", []any{"not an oid", nil, []byte("x"), int64(7)}},
		{"deleteObject", []any{storage.OID(1).Bytes(), int64(3), int64(7)}},
		{"checkCurrentSerialInTransaction", []any{storage.OID(1).Bytes(), []byte("short"), int64(7)}},
		{"restorea", []any{storage.OID(1).Bytes(), nil, []byte("x"), nil, int64(7)}},
		{"undoa", []any{int64(3), int64(7)}},
	}
	for _, call := range calls {
		rawTxn(t, c, 7)
		if err := c.CallAsync("storea", storage.OID(2).Bytes(), nil, []byte("fine"), int64(7)); err != nil {
			t.Fatal(err)
		}
		if err := c.CallAsync(call.method, call.args...); err != nil {
			t.Fatal(err)
		}
		_, err := c.Call("vote", int64(7))
		if !client.IsClass(err, "TypeError") {
			t.Errorf("%s%s: vote error %v, want a TypeError", call.method, wire.Repr(wire.Tuple(call.args)), err)
		}
		// The failed vote ended the transaction: a new one can begin.
		if _, err := c.Call("tpc_abort", int64(7)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, ok, _ := ms.LoadBefore(2, tid.Max); ok {
		t.Error("a transaction with a bad argument committed")
	}
	if err := c.Ping(); err != nil {
		t.Fatalf("connection closed after bad values: %v", err)
	}

	rawTxn(t, c, 8)
	if err := c.CallAsync("storea", storage.OID(1).Bytes(), nil, int64(8)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("storea with a missing argument left the connection open")
	}
}

// ZODB's testTransactionExtensionFromIterator begins a transaction whose
// extension is a dict subclass pickled as dict(((key, value),)); the
// iterator must give the extension back as {'foo': 1}.
func TestExtensionPickledAsDictReduce(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	ext := wire.Reduce{Func: wire.ClassRef{Module: "builtins", Name: "dict"},
		Args: wire.Tuple{wire.Tuple{wire.Tuple{"foo", int64(1)}}}}
	if err := c.CallAsync("tpc_begin", int64(3), []byte("u"), []byte("d"), ext, nil, " "); err != nil {
		t.Fatal(err)
	}
	if err := c.CallAsync("storea", storage.OID(0).Bytes(), nil, []byte("root"), int64(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("vote", int64(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("tpc_finish", int64(3)); err != nil {
		t.Fatal(err)
	}
	iid, err := c.Call("iterator_start", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Call("iterator_next", iid)
	rec, _ := wire.AsSeq(v)
	if err != nil || len(rec) != 5 || !wire.Equal(rec[4], wire.NewDict("foo", int64(1))) {
		t.Fatalf("iterator_next = %s, %v; want the extension {'foo': 1}", wire.Repr(v), err)
	}
}

// ZEO's checkExceptionLogsAtError: history with a size that is not an int
// raises TypeError at the client (and the client logs it at error), while
// an oid that cannot exist is a POSKeyError, as MappingStorage.history
// answers in ZODB 6.3.
func TestHistoryBadArguments(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	commit(t, c, nil, map[storage.OID][]byte{0: []byte("root")})
	z64 := storage.OID(0).Bytes()
	for _, size := range []any{nil, "x", 2.5} {
		if _, err := c.Call("history", z64, size); !client.IsClass(err, "TypeError") {
			t.Errorf("history(z64, %s): %v, want TypeError", wire.Repr(size), err)
		}
	}
	for _, oid := range []any{nil, []byte("short"), storage.OID(9).Bytes()} {
		if _, err := c.Call("history", oid, nil); !client.IsClass(err, "POSKeyError") {
			t.Errorf("history(%s, None): %v, want POSKeyError", wire.Repr(oid), err)
		}
	}
	v, err := c.Call("history", z64, int64(5))
	if seq, _ := wire.AsSeq(v); err != nil || len(seq) != 1 {
		t.Errorf("history(z64, 5) = %s, %v; want one entry", wire.Repr(v), err)
	}
}

// Records made by Python 3.11's pickle (protocol 3) with ZODB's
// persistent-id forms: a PersistentMapping whose state refers to oid 1
// as (oid, None) and to oid 3 of database 'o' as ['m', ('o', oid, None)];
// one referring to oid 2 as a bare oid; one empty.
const (
	recClass = "\x80\x03X\x12\x00\x00\x00persistent.mappingq\x00X\x11\x00\x00\x00PersistentMappingq\x01\x86q\x02."
	recRoot  = recClass + "\x80\x03}q\x03(X\x01\x00\x00\x00aq\x04C\x08\x00\x00\x00\x00\x00\x00\x00\x01q\x05N\x86q\x06QX\x05\x00\x00\x00otherq\x07]q\x08(X\x01\x00\x00\x00mq\tX\x01\x00\x00\x00oq\nC\x08\x00\x00\x00\x00\x00\x00\x00\x03q\x0bN\x87q\x0ceQu."
	recTo2   = recClass + "\x80\x03}q\x03X\x01\x00\x00\x00bq\x04C\x08\x00\x00\x00\x00\x00\x00\x00\x02q\x05Qs."
	recEmpty = recClass + "\x80\x03}q\x03."
)

// ZODB's PackableStorage tests against a <mappingstorage> server
// (testPackJustOldRevisions, testPackOnlyOneObject,
// testPackWithMultiDatabaseReferences): pack keeps each object's current
// revision, and its GC keeps what the root reaches by strong references
// only, as ZODB 6.3's MappingStorage.pack does.
func TestMappingStoragePackGC(t *testing.T) {
	addr, ms := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	t0 := commit(t, c, nil, map[storage.OID][]byte{
		0: []byte(recRoot), 1: []byte(recEmpty), 2: []byte(recEmpty),
		3: []byte(recEmpty), 4: []byte(recEmpty)})
	t1 := commit(t, c, map[storage.OID]tid.TID{1: t0}, map[storage.OID][]byte{1: []byte(recTo2)})
	t2 := commit(t, c, map[storage.OID]tid.TID{1: t1}, map[storage.OID][]byte{1: []byte(recTo2)})
	if ms.Len() != 5 {
		t.Fatalf("Len before pack = %d, want 5", ms.Len())
	}
	packAt := float64(time.Now().Unix() + 1)
	if _, err := c.Call("pack", packAt, true); err != nil {
		t.Fatal(err)
	}
	if ms.Len() != 3 {
		t.Errorf("Len after pack = %d, want 3 (root, 1, 2)", ms.Len())
	}
	for _, oid := range []storage.OID{3, 4} {
		if _, err := c.Call("loadBefore", oid.Bytes(), storage.TIDBytes(tid.Max)); !client.IsClass(err, "POSKeyError") {
			t.Errorf("oid %d after GC: %v, want POSKeyError", oid, err)
		}
	}
	v, err := c.Call("history", storage.OID(1).Bytes(), int64(10))
	if seq, _ := wire.AsSeq(v); err != nil || len(seq) != 1 {
		t.Errorf("history(1) after pack = %s, %v; want the current revision only", wire.Repr(v), err)
	}
	if _, err := c.Call("loadSerial", storage.OID(1).Bytes(), storage.TIDBytes(t2)); err != nil {
		t.Errorf("current revision of oid 1: %v", err)
	}
	if _, err := c.Call("loadSerial", storage.OID(1).Bytes(), storage.TIDBytes(t1)); !client.IsClass(err, "POSKeyError") {
		t.Errorf("old revision of oid 1: %v, want POSKeyError", err)
	}
	// The same time again does nothing; an earlier one is refused.
	if _, err := c.Call("pack", packAt, true); err != nil {
		t.Errorf("pack to the same time: %v", err)
	}
	if _, err := c.Call("pack", packAt-10, true); !client.IsClass(err, "ValueError") {
		t.Errorf("pack to an earlier time: %v, want ValueError", err)
	}
}

// A new blob stored with serial None (ZODB's blob storage tests go
// through storeBlob as they go through store) commits like storea's.
func TestStoreBlobSerialNone(t *testing.T) {
	dir := t.TempDir()
	fs, err := fsstorage.OpenWithBlobs(filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"), filestorage.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, map[string]storage.Storage{"1": fs}, Options{})
	c := dial(t, addr, client.Options{})
	rawTxn(t, c, 4)
	for _, call := range [][]any{{"storeBlobStart"}, {"storeBlobChunk", []byte("blob bytes")},
		{"storeBlobEnd", storage.OID(1).Bytes(), nil, []byte("record"), int64(4)}} {
		if err := c.CallAsync(call[0].(string), call[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Call("vote", int64(4)); err != nil {
		t.Fatalf("vote: %v", err)
	}
	fin, err := c.Call("tpc_finish", int64(4))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.LoadBlob(1, tid.FromBytes(fin.([]byte)))
	if err != nil || string(got) != "blob bytes" {
		t.Fatalf("blob %q, %v", got, err)
	}
}

// storeBlobEnd shares storea's argument handling: a bad value fails the
// vote with a TypeError (the connection stays open) and the upload is
// removed, as ZEO 6.0's storeBlobEnd only logs its arguments for the vote.
func TestStoreBlobEndBadArgumentFailsVote(t *testing.T) {
	dir := t.TempDir()
	fs, err := fsstorage.OpenWithBlobs(filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"), filestorage.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := startServer(t, map[string]storage.Storage{"1": fs}, Options{})
	c := dial(t, addr, client.Options{})
	rawTxn(t, c, 5)
	for _, call := range [][]any{{"storeBlobStart"}, {"storeBlobChunk", []byte("blob bytes")},
		{"storeBlobEnd", storage.OID(1).Bytes(), []byte("short"), []byte("record"), int64(5)}} {
		if err := c.CallAsync(call[0].(string), call[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Call("vote", int64(5)); !client.IsClass(err, "TypeError") {
		t.Fatalf("vote error %v, want a TypeError", err)
	}
	if err := c.Ping(); err != nil {
		t.Fatalf("connection closed after a bad storeBlobEnd value: %v", err)
	}
	uploads, _ := filepath.Glob(filepath.Join(dir, "blobs", "tmp", "zeo-upload-*"))
	if len(uploads) != 0 {
		t.Errorf("uploads left behind: %q", uploads)
	}
}
