package server

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// The figures the issue asks for: loadBefore/s and commits/s (one small
// object per transaction) with 1, 4 and 16 concurrent connections, over
// loopback TCP, plus the process RSS. (Python ZEO on this machine class:
// 5.2k loads/s with 1 client, 12.5k with 4, 1.1k commits/s.)

func benchClients(b *testing.B, addr string, n int) []*client.Client {
	cs := make([]*client.Client, n)
	for i := range cs {
		c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return cs
}

func benchServer(b *testing.B) string {
	ms := mappingstorage.New("", false)
	srv, err := New(map[string]storage.Storage{"1": ms}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

func rssKB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
	}
	return 0
}

// run splits b.N operations over the clients, each in its own goroutine.
func run(b *testing.B, cs []*client.Client, op func(i int, c *client.Client) error) {
	var wg sync.WaitGroup
	per := b.N / len(cs)
	extra := b.N % len(cs)
	start := time.Now()
	b.ResetTimer()
	for i, c := range cs {
		n := per
		if i < extra {
			n++
		}
		wg.Add(1)
		go func(i int, c *client.Client, n int) {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if err := op(i, c); err != nil {
					b.Error(err)
					return
				}
			}
		}(i, c, n)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	b.ReportMetric(rssKB()/1024, "RSS-MiB")
}

func BenchmarkLoadBefore(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			addr := benchServer(b)
			cs := benchClients(b, addr, n)
			tx, _ := cs[0].Begin("", "", nil)
			tx.Store(0, 0, make([]byte, 100))
			if _, _, err := tx.Vote(); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Finish(); err != nil {
				b.Fatal(err)
			}
			run(b, cs, func(i int, c *client.Client) error {
				_, _, _, ok, err := c.LoadBefore(0, tid.Max)
				if err == nil && !ok {
					err = fmt.Errorf("no data")
				}
				return err
			})
		})
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			addr := benchServer(b)
			cs := benchClients(b, addr, n)
			serials := make([]tid.TID, n)
			run(b, cs, func(i int, c *client.Client) error {
				tx, err := c.Begin("", "", wire.NewDict())
				if err != nil {
					return err
				}
				tx.Store(storage.OID(i+1), serials[i], []byte("small object"))
				cf, _, err := tx.Vote()
				if err != nil || len(cf) != 0 {
					return fmt.Errorf("vote: %v %v", cf, err)
				}
				serials[i], err = tx.Finish()
				return err
			})
		})
	}
}
