package runzeo

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// BenchmarkMetricsScrape: the cost of one /metrics exposition (reading
// server_status and the storage's size for a FileStorage, formatting),
// which is all that metrics add to a running server.
func BenchmarkMetricsScrape(b *testing.B) {
	st, err := openFileStorage(FileStorageConfig{Path: filepath.Join(b.TempDir(), "Data.fs"), PackGC: true, PackKeepOld: true})
	if err != nil {
		b.Fatal(err)
	}
	stores := map[string]storage.Storage{"1": st}
	srv, err := server.New(stores, server.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	reg := newRegistry(srv, stores, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
