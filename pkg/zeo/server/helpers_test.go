package server

import (
	"net"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// startServer serves storages on a loopback TCP port for the test's life.
func startServer(t *testing.T, storages map[string]storage.Storage, opts Options) string {
	t.Helper()
	_, addr := serve(t, storages, opts)
	return addr
}

// serve is startServer returning the server too.
func serve(t *testing.T, storages map[string]storage.Storage, opts Options) (*Server, string) {
	t.Helper()
	srv, err := New(storages, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
