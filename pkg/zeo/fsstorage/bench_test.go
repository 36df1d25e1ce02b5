package fsstorage

import (
	"context"
	"fmt"
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

// BenchmarkCommitFileStorage: commits/s of one small object per
// transaction into a real Data.fs (fsync on), over loopback TCP.
func BenchmarkCommitFileStorage(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			st, err := Open(filepath.Join(b.TempDir(), "Data.fs"), filestorage.Options{})
			if err != nil {
				b.Fatal(err)
			}
			srv, _ := server.New(map[string]storage.Storage{"1": st}, server.Options{})
			l, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(l)
			defer srv.Close()
			cs := make([]*client.Client, n)
			for i := range cs {
				if cs[i], err = client.Dial(context.Background(), []string{l.Addr().String()}, client.Options{Timeout: 5 * time.Second}); err != nil {
					b.Fatal(err)
				}
				defer cs[i].Close()
			}
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for i, c := range cs {
				count := b.N / n
				if i < b.N%n {
					count++
				}
				wg.Add(1)
				go func(i int, c *client.Client, count int) {
					defer wg.Done()
					var serial tid.TID
					for j := 0; j < count; j++ {
						tx, _ := c.Begin("", "", nil)
						tx.Store(storage.OID(i+1), serial, record("x"))
						if _, _, err := tx.Vote(); err != nil {
							b.Error(err)
							return
						}
						if serial, err = tx.Finish(); err != nil {
							b.Error(err)
							return
						}
					}
				}(i, c, count)
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
		})
	}
}
