package fsstorage

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

func dialNewFS(t *testing.T) *client.Client {
	t.Helper()
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
	return c
}

func dictKeys(t *testing.T, v any) string {
	t.Helper()
	d, ok := v.(*wire.Dict)
	if !ok {
		t.Fatalf("%s is not a dict", wire.Repr(v))
	}
	var keys []string
	for _, it := range d.Items {
		k, _ := wire.AsString(it.Key)
		keys = append(keys, k)
	}
	return strings.Join(keys, ",")
}

// undoInfo's specification compares like Python 3 (a str never equals the
// stored bytes), results keep bytes, and the undoLog/undoInfo and history
// dicts have FileStorage's key order (interop items 26 and 27).
func TestUndoInfoSpecAndKeyOrder(t *testing.T) {
	c := dialNewFS(t)
	tx, err := c.Begin("/ bob", "txn 1", wire.NewDict("n", int64(4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(0, 0, []byte("root")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}

	got, err := c.Call("undoInfo", int64(0), int64(20), wire.NewDict("user_name", "/ bob"))
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := wire.AsSeq(got); len(l) != 0 {
		t.Errorf("undoInfo with a str spec: %s, want [] as Python", wire.Repr(got))
	}
	got, err = c.Call("undoInfo", int64(0), int64(20), wire.NewDict("user_name", []byte("/ bob")))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := wire.AsSeq(got)
	if len(l) != 1 {
		t.Fatalf("undoInfo with a bytes spec: %s, want 1 entry", wire.Repr(got))
	}
	if k := dictKeys(t, l[0]); k != "id,time,user_name,size,description,n" {
		t.Errorf("undoInfo keys %s", k)
	}
	e := l[0].(*wire.Dict)
	for _, key := range []string{"user_name", "description"} {
		if v, _ := e.Get(key); func() bool { _, ok := v.([]byte); return !ok }() {
			t.Errorf("%s is %T, want bytes", key, v)
		}
	}

	ul, err := c.Call("undoLog", int64(0), int64(-20))
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := wire.AsSeq(ul); len(l) != 1 || dictKeys(t, l[0]) != "id,time,user_name,size,description,n" {
		t.Errorf("undoLog %s", wire.Repr(ul))
	}

	h, err := c.Call("history", storage.OID(0).Bytes(), int64(5))
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := wire.AsSeq(h); len(l) != 1 || dictKeys(t, l[0]) != "n,time,user_name,description,tid,size" {
		t.Errorf("history %s", wire.Repr(h))
	}
}
