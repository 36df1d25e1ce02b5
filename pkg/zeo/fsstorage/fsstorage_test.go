package fsstorage

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// serve runs a ZEO server on path until the returned stop is called.
func serve(t *testing.T, path string) (addr string, stop func()) {
	t.Helper()
	st, err := Open(path, filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return l.Addr().String(), stop
}

func dial(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func commit(t *testing.T, c *client.Client, oid storage.OID, serial tid.TID, data string) tid.TID {
	t.Helper()
	tx, err := c.Begin("alice", "desc "+data, wire.NewDict("k", "v", "n", int64(1)))
	if err != nil {
		t.Fatal(err)
	}
	tx.Store(oid, serial, []byte(data))
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		t.Fatalf("vote: %v %v", cf, err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A Data.fs served over ZEO keeps its data across a restart; tids keep
// increasing; the invalidation queue is seeded from the file so a client
// with an older cache gets (tid, oids) rather than None; conflicts come
// back as dicts; undoLog and history carry the extension.
func TestServeFileStorage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	addr, stop := serve(t, path)
	c := dial(t, addr)
	if _, _, err := c.Load(0); !client.IsClass(err, "POSKeyError") {
		t.Fatalf("new storage has a root: %v", err)
	}
	t1 := commit(t, c, 0, 0, "root1")
	t2 := commit(t, c, 0, t1, "root2")
	t3 := commit(t, c, 1, 0, "other")
	// stale store -> conflict dict
	tx, _ := c.Begin("", "", nil)
	tx.Store(0, t1, []byte("stale"))
	cf, _, err := tx.Vote()
	if err != nil || len(cf) != 1 || cf[0].Committed != t2 || cf[0].Read != t1 {
		t.Fatalf("conflict: %+v %v", cf, err)
	}
	tx.Abort()
	c.Close()
	stop()

	addr, _ = serve(t, path)
	c = dial(t, addr)
	if c.LastTID != t3 {
		t.Errorf("after restart last tid %v, want %v", c.LastTID, t3)
	}
	data, serial, err := c.Load(0)
	if err != nil || string(data) != "root2" || serial != t2 {
		t.Errorf("load after restart: %q %v %v", data, serial, err)
	}
	gi, err := c.Call("getInvalidations", storage.TIDBytes(t1))
	if err != nil || !wire.Equal(gi, wire.Tuple{storage.TIDBytes(t3), wire.List{storage.OID(0).Bytes(), storage.OID(1).Bytes()}}) {
		t.Errorf("getInvalidations after restart: %s %v", wire.Repr(gi), err)
	}
	t4 := commit(t, c, 0, t2, "root3")
	if t4 <= t3 {
		t.Errorf("tid went backwards after restart: %v <= %v", t4, t3)
	}
	ul, err := c.Call("undoLog", int64(0), int64(-20))
	if err != nil {
		t.Fatal(err)
	}
	entries := ul.(wire.List)
	if len(entries) != 4 {
		t.Fatalf("undoLog has %d entries", len(entries))
	}
	e0 := entries[0].(*wire.Dict)
	if d, _ := e0.Get("description"); !wire.Equal(d, []byte("desc root3")) {
		t.Errorf("undoLog[0] description %s", wire.Repr(d))
	}
	if k, _ := e0.Get("k"); k != "v" {
		t.Errorf("undoLog extension k = %v", k)
	}
	// Undo the last transaction: vote reports the undone oid.
	id, _ := e0.Get("id")
	tx, _ = c.Begin("", "undo", nil)
	tx.Undo(id.([]byte))
	_, oids, err := tx.Vote()
	if err != nil || len(oids) != 1 || oids[0] != 0 {
		t.Fatalf("undo vote: %v %v", oids, err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}
	data, _, err = c.Load(0)
	if err != nil || string(data) != "root2" {
		t.Errorf("after undo: %q %v", data, err)
	}
	h, err := c.Call("history", storage.OID(0).Bytes(), int64(10))
	if err != nil || len(h.(wire.List)) < 3 {
		t.Errorf("history: %s %v", wire.Repr(h), err)
	}
}

// Blobs: upload in chunks, commit, download with sendBlob; a conflict
// round replays the upload; abort removes it.
func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenWithBlobs(filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"), filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, l.Addr().String())
	info, _ := c.Call("get_info")
	ifs, _ := info.(*wire.Dict).Get("interfaces")
	if !wire.Equal(ifs.(wire.Tuple)[0], wire.Tuple{"ZODB.interfaces", "IBlobStorage"}) {
		t.Errorf("interfaces %s", wire.Repr(ifs))
	}
	blob := make([]byte, 150000)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	tx, _ := c.Begin("", "blob", nil)
	tx.Store(5, 0, []byte("blob record"))
	tx.StoreBlob(5, 0, []byte("blob record"), blob)
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		t.Fatalf("vote: %v %v", cf, err)
	}
	t1, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.LoadBlob(5, t1)
	if err != nil || string(got) != string(blob) {
		t.Fatalf("LoadBlob: %d bytes, %v", len(got), err)
	}
	want := filepath.Join(dir, "blobs", "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x05", t1.Repr()+".blob")
	if _, err := os.Stat(want); err != nil {
		t.Errorf("blob file not in the bushy layout: %v", err)
	}
	if _, err := c.LoadBlob(5, t1-1); !client.IsClass(err, "POSKeyError") {
		t.Errorf("missing blob revision: %v", err)
	}
	// Conflict round: the upload survives the first vote.
	other := dial(t, l.Addr().String())
	commit(t, other, 5, t1, "newer")
	t2 := other.LastTID
	_ = t2
	tx, _ = c.Begin("", "blob2", nil)
	tx.StoreBlob(5, t1, []byte("blob record 2"), []byte("second"))
	cf, _, err := tx.Vote()
	if err != nil || len(cf) != 1 {
		t.Fatalf("expected a conflict dict: %v %v", cf, err)
	}
	tx.StoreBlob(5, cf[0].Committed, []byte("blob record 3"), []byte("third"))
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		t.Fatalf("re-vote: %v %v", cf, err)
	}
	t3, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.LoadBlob(5, t3); err != nil || string(got) != "third" {
		t.Errorf("blob after resolution: %q %v", got, err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	if len(ents) != 0 {
		t.Errorf("%d files left in the blob tmp dir", len(ents))
	}
}

// Packing while other clients commit: every commit succeeds, the data is
// intact afterwards, and every client gets the info() broadcast.
func TestPackDuringCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	addr, _ := serve(t, path)
	infos := make(chan struct{}, 100)
	packer, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second,
		OnInfo: func(*wire.Dict) {
			select {
			case infos <- struct{}{}:
			default:
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer packer.Close()
	// A root referencing the writers' objects, so pack's GC keeps them.
	root := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03(")
	for w := 0; w < 3; w++ {
		root = append(root, []byte(fmt.Sprintf("X\x01\x00\x00\x00%c", 'a'+w))...)
		root = append(root, 'C', 8)
		root = append(root, storage.OID(10+w).Bytes()...)
		root = append(root, []byte("h\x00\x86Q")...)
	}
	root = append(root, []byte("us.")...)
	commit(t, packer, 0, 0, string(root))
	first := map[int]tid.TID{}
	for w := 0; w < 3; w++ {
		first[w] = commit(t, packer, storage.OID(10+w), 0, string(record("start")))
	}
	writers := 3
	done := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			serial := first[w]
			for i := 0; i < 30; i++ {
				tx, err := c.Begin("", "", nil)
				if err == nil {
					tx.Store(storage.OID(10+w), serial, record(fmt.Sprintf("w%d-%d", w, i)))
					var cf []client.Conflict
					if cf, _, err = tx.Vote(); err == nil && len(cf) == 0 {
						serial, err = tx.Finish()
					} else if err == nil {
						err = fmt.Errorf("conflicts %v", cf)
					}
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(w)
	}

	for i := 0; i < 5; i++ {
		if _, err := packer.Call("pack", float64(time.Now().UnixNano())/1e9, true); err != nil {
			t.Errorf("pack: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for w := 0; w < writers; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for w := 0; w < writers; w++ {
		data, _, err := packer.Load(storage.OID(10 + w))
		if err != nil || string(data) != string(record(fmt.Sprintf("w%d-29", w))) {
			t.Errorf("writer %d: %q %v", w, data, err)
		}
	}
	select {
	case <-infos:
	case <-time.After(5 * time.Second):
		t.Error("no info() after pack")
	}
}

// record is a valid ZODB data record (class pickle, then a str state),
// so that pack's reference scan can read it.
func record(state string) []byte {
	b := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03X")
	b = append(b, byte(len(state)), 0, 0, 0)
	return append(append(b, state...), '.')
}

// restorea with tpc_begin's tid and status (copyTransactionsFrom): the
// transaction gets exactly the given tid and the records are stored
// without a conflict check.
func TestRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	addr, _ := serve(t, path)
	c := dial(t, addr)
	t1 := commit(t, c, 1, 0, "orig")
	want := t1 + 1000
	txnID := int64(424242)
	c.CallAsync("tpc_begin", txnID, []byte("copier"), []byte("copied"), wire.NewDict(), storage.TIDBytes(want), " ")
	c.CallAsync("restorea", storage.OID(1).Bytes(), storage.TIDBytes(want), []byte("restored"), nil, txnID)
	c.CallAsync("restorea", storage.OID(2).Bytes(), storage.TIDBytes(want), []byte("new"), nil, txnID)
	if _, err := c.Call("vote", txnID); err != nil {
		t.Fatal(err)
	}
	v, err := c.Call("tpc_finish", txnID)
	if err != nil || !wire.Equal(v, storage.TIDBytes(want)) {
		t.Fatalf("tpc_finish = %s %v, want %v", wire.Repr(v), err, want)
	}
	for oid, d := range map[storage.OID]string{1: "restored", 2: "new"} {
		data, serial, err := c.Load(oid)
		if err != nil || string(data) != d || serial != want {
			t.Errorf("oid %d: %q %v %v", oid, data, serial, err)
		}
	}
}

// Undo of a blob revision brings the older blob back under the undo's
// tid; pack removes the files of revisions it dropped.
func TestBlobUndoAndPack(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenWithBlobs(filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"), filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, l.Addr().String())
	root := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03X\x01\x00\x00\x00bC\x08\x00\x00\x00\x00\x00\x00\x00\x05h\x00\x86Qss.")
	commit(t, c, 0, 0, string(root))
	storeBlob := func(serial tid.TID, content string) tid.TID {
		tx, _ := c.Begin("", "", nil)
		tx.StoreBlob(5, serial, record("blob"), []byte(content))
		if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
			t.Fatalf("vote: %v %v", cf, err)
		}
		n, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tA := storeBlob(0, "A")
	tB := storeBlob(tA, "B")
	ul, err := c.Call("undoLog", int64(0), int64(1))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ul.(wire.List)[0].(*wire.Dict).Get("id")
	tx, _ := c.Begin("", "undo", nil)
	tx.Undo(id.([]byte))
	if _, oids, err := tx.Vote(); err != nil || len(oids) != 1 {
		t.Fatalf("undo vote: %v %v", oids, err)
	}
	tU, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.LoadBlob(5, tU); err != nil || string(got) != "A" {
		t.Errorf("blob after undo: %q %v", got, err)
	}
	if _, err := c.Call("pack", float64(time.Now().UnixNano())/1e9+1, true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadBlob(5, tB); !client.IsClass(err, "POSKeyError") {
		t.Errorf("packed-away blob revision still served: %v", err)
	}
	if got, err := c.LoadBlob(5, tU); err != nil || string(got) != "A" {
		t.Errorf("current blob after pack: %q %v", got, err)
	}
}
