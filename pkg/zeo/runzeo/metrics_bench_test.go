package runzeo

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/metrics"
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

// BenchmarkLatencyObserve: what the latency histograms add to each load,
// commit or group sync (one Observer call, from all cores at once),
// besides the two clock reads in the server.
func BenchmarkLatencyObserve(b *testing.B) {
	reg := metrics.NewRegistry()
	o := newLatencyObserver(reg, map[string]storage.Storage{"1": nil})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.Load("1", 80*time.Microsecond)
		}
	})
}
