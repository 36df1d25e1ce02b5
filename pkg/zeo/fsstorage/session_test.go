package fsstorage

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// serveAt serves path on a fixed address (restarts reuse it).
func serveAt(t *testing.T, path, addr string) func() {
	t.Helper()
	st, err := Open(path, filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	stop := func() { srv.Close(); <-done }
	t.Cleanup(stop)
	return stop
}

// A Session reconnects after a server restart and learns, through
// getInvalidations, what was committed while it was away.
func TestSessionReconnect(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	stop := serveAt(t, path, addr)

	var mu sync.Mutex
	got := map[storage.OID]tid.TID{}
	s, err := client.NewSession(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second,
		OnInvalidate: func(t tid.TID, oids []storage.OID) {
			mu.Lock()
			for _, o := range oids {
				got[o] = t
			}
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.RetryDelay = 300 * time.Millisecond
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t1 := commit(t, c, 1, 0, "v1")

	stop()
	serveAt(t, path, addr)
	// Another client commits right after the restart, most likely before
	// the session is back: the session must still hear about it.
	other := dial(t, addr)
	t2 := commit(t, other, 1, t1, "v2")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c2, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == c {
		t.Fatal("session still hands out the dead client")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		seen := got[1]
		mu.Unlock()
		if seen == t2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session never learned of %v (saw %v)", t2, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
	data, _, err := c2.Load(1)
	if err != nil || string(data) != "v2" {
		t.Errorf("load after reconnect: %q %v", data, err)
	}
}
