package fsstorage

import (
	"bytes"
	"context"
	"net"
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

// The interop "edges" scenario: undoing a transaction whose object a later
// one changed fails as ZODB.POSException.MultipleUndoErrors carrying
// (oid, UndoError) pairs, the form ZEO 6 clients turn back into an
// UndoError (Python's FileStorage._txn_undo_write raises exactly that).
func TestUndoFailureIsMultipleUndoErrors(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "Data.fs"), filestorage.Options{NoSync: true})
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
	t.Cleanup(func() { srv.Close(); <-done })

	c, err := client.Dial(context.Background(), []string{l.Addr().String()}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	commit := func(serials map[storage.OID]tid.TID, data map[storage.OID][]byte) tid.TID {
		t.Helper()
		tx, err := c.Begin("u", "d", nil)
		if err != nil {
			t.Fatal(err)
		}
		for oid, d := range data {
			if err := tx.Store(oid, serials[oid], d); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		n, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t0 := commit(nil, map[storage.OID][]byte{0: []byte("v5"), 1: []byte("w5")})
	t1 := commit(map[storage.OID]tid.TID{0: t0, 1: t0}, map[storage.OID][]byte{0: []byte("v6"), 1: []byte("w6")})
	commit(map[storage.OID]tid.TID{0: t1, 1: t1}, map[storage.OID][]byte{0: []byte("v7"), 1: []byte("w7")})

	log, err := c.Call("undoLog", int64(0), int64(-20))
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := wire.AsSeq(log)
	if len(entries) != 3 {
		t.Fatalf("undoLog %s", wire.Repr(log))
	}
	id, _ := entries[1].(*wire.Dict).Get("id") // the middle transaction (v6)

	tx, err := c.Begin("u", "undo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Undo(id.([]byte)); err != nil {
		t.Fatal(err)
	}
	_, _, err = tx.Vote()
	tx.Abort()
	if !client.IsClass(err, server.ClassMultipleUndoErrors) {
		t.Fatalf("vote error %v, want %s", err, server.ClassMultipleUndoErrors)
	}
	info := err.(*client.ServerError).Info.(*wire.Dict)
	errsV, _ := info.Get("_errs")
	errs, _ := errsV.(wire.List)
	if len(errs) != 2 {
		t.Fatalf("_errs %s", wire.Repr(errsV))
	}
	// The pairs follow the order of the undone transaction's records.
	seen := map[string]bool{}
	for i, pair := range errs {
		p := pair.(wire.Tuple)
		oid, _ := p[0].([]byte)
		seen[string(oid)] = true
		obj, ok := p[1].(*wire.Object)
		if !ok || obj.Args[0] != (wire.Global{Module: "ZODB.POSException", Name: "UndoError"}) {
			t.Fatalf("pair %d: %s", i, wire.Repr(pair))
		}
		state := obj.Args[1].(*wire.Dict)
		if r, _ := state.Get("_reason"); r != "Some data were modified by a later transaction" {
			t.Errorf("pair %d reason %v", i, r)
		}
		if o, _ := state.Get("_oid"); !bytes.Equal(o.([]byte), oid) {
			t.Errorf("pair %d _oid %s", i, wire.Repr(o))
		}
	}
	if !seen[string(storage.OID(0).Bytes())] || !seen[string(storage.OID(1).Bytes())] {
		t.Errorf("_errs oids %s, want 0 and 1", wire.Repr(errsV))
	}
	if r, _ := info.Get("_reason"); !bytes.Equal(r.([]byte), errs[0].(wire.Tuple)[0].([]byte)) {
		t.Errorf("_reason %s, want the first oid (MultipleUndoErrors.__init__)", wire.Repr(r))
	}
}
