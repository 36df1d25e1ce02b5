package filestorage

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
)

// BenchmarkGroupCommit: one-object transactions from N committers, each
// waiting until its transaction is durable, with one syncer doing what
// the ZEO server's committer does (Sync, then Publish). Real fsyncs.
// Reports commits/s and commits per group sync (two fsyncs each).
func BenchmarkGroupCommit(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("committers=%d", n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "Data.fs"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			g := s.NewGroup()
			var mu sync.Mutex
			cond := sync.NewCond(&mu)
			var durable tid.TID
			var stop atomic.Bool
			kick := make(chan struct{}, 1)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for !stop.Load() {
					select {
					case <-kick:
					case <-time.After(time.Millisecond):
					}
					t, err := g.Sync()
					if err != nil {
						b.Error(err)
						return
					}
					g.Publish(t)
					mu.Lock()
					durable = max(durable, t)
					cond.Broadcast()
					mu.Unlock()
				}
			}()
			var next atomic.Int64
			data := []byte("a small object pickle of some tens of bytes....")
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < n; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					oid := Oid(w + 1)
					for next.Add(1) <= int64(b.N) {
						t, err := g.Commit(TxnMeta{}, []GroupRecord{{Oid: oid, Data: data}})
						if err != nil {
							b.Error(err)
							return
						}
						select {
						case kick <- struct{}{}:
						default:
						}
						mu.Lock()
						for durable < t {
							cond.Wait()
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			stop.Store(true)
			<-done
			groups, txns := g.Stats()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "commits/s")
			if groups > 0 {
				b.ReportMetric(float64(txns)/float64(groups), "commits/sync")
			}
		})
	}
}
