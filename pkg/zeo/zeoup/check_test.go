package zeoup

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

func startServer(t *testing.T) string {
	t.Helper()
	srv, err := server.New(map[string]storage.Storage{"1": mappingstorage.New("", false)}, server.Options{})
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
	return l.Addr().String()
}

// A root zeoup cannot rewrite exactly (here an old protocol-2 pickle) is
// left alone: an empty transaction is committed and the note says why.
func TestCheckLeavesUneditableRootAlone(t *testing.T) {
	addr := startServer(t)
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := []byte("\x80\x02cpersistent.mapping\nPersistentMapping\nq\x01.\x80\x02}q\x02U\x04dataq\x03}q\x04s.")
	tx, err := c.Begin("", "", wire.NewDict())
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(0, 0, old); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}
	_, before, err := c.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Check(addr, client.Options{Storage: "1", Timeout: 5 * time.Second}, true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Note, "protocol 3") || res.Counter != 0 || res.CreatedRoot {
		t.Fatalf("result %+v", res)
	}
	data, after, err := c.Load(0)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(old) || after != before {
		t.Fatalf("root changed: %q at %v (was %v)", data, after, before)
	}
	if last, err := c.LastTransaction(); err != nil || last <= after {
		t.Fatalf("no empty transaction committed: last %v, root %v, %v", last, after, err)
	}
}

// --nowrite on an empty storage: the missing root counts as working and
// nothing is written.
func TestCheckNoWriteEmptyStorage(t *testing.T) {
	addr := startServer(t)
	res, err := Check(addr, client.Options{Storage: "1", ReadOnly: true, Timeout: 5 * time.Second}, false, 5*time.Second)
	if err != nil || res != (Result{}) {
		t.Fatalf("%+v %v", res, err)
	}
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Load(0); !client.IsClass(err, "POSKeyError") {
		t.Fatalf("root exists after --nowrite: %v", err)
	}
}
