package runzeo

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// A transaction extension sent through runzeo's FileStorage lands in
// Data.fs with the bytes Python's FileStorage writes for the same
// tpc_begin (zodbpickle dumps, protocol 3, memo on; interop finding 6).
// An empty extension is stored as nothing, as ZODB does.
func TestExtensionBytesInDataFs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	st, err := openFileStorage(FileStorageConfig{Path: path, PackGC: true, PackKeepOld: true})
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
	stop := func() {
		if !stopped {
			stopped = true
			srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	c, err := client.Dial(context.Background(), []string{l.Addr().String()}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// The wants were printed by Python: zodbpickle.pickle.dumps(ext, 3).
	cases := []struct {
		ext  *wire.Dict
		want string
	}{
		{wire.NewDict("n", int64(0)), "\x80\x03}q\x00X\x01\x00\x00\x00nq\x01K\x00s."},
		{wire.NewDict(), ""},
		{wire.NewDict("user_name", "admin", "x", "x", "l", wire.List{int64(1), "ab"}),
			"\x80\x03}q\x00(X\t\x00\x00\x00user_nameq\x01X\x05\x00\x00\x00adminq\x02X\x01\x00\x00\x00xq\x03h\x03X\x01\x00\x00\x00lq\x04]q\x05(K\x01X\x02\x00\x00\x00abq\x06eu."},
	}
	for _, tc := range cases {
		tx, err := c.Begin("u", "d", tc.ext)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	stop()
	it, f, err := filestorage.OpenIterator(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i, tc := range cases {
		r, err := it.Next()
		if err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if string(r.Extension) != tc.want {
			t.Errorf("transaction %d: extension %q, want %q", i, r.Extension, tc.want)
		}
	}
	if _, err := it.Next(); err != io.EOF {
		t.Fatalf("more transactions than committed: %v", err)
	}
}
