package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// populated starts a server with n objects whose data is "obj <oid>" and
// returns its address, its stop function and the commit's tid.
func populated(t testing.TB, n int) (string, func(), tid.TID) {
	t.Helper()
	st, err := fsstorage.Open(filepath.Join(t.TempDir(), "Data.fs"), filestorage.Options{NoSync: true})
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
	var once sync.Once
	stop := func() { once.Do(func() { srv.Close(); <-done }) }
	t.Cleanup(stop)
	c, err := client.Dial(context.Background(), []string{l.Addr().String()}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tx, err := c.Begin("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for oid := storage.OID(1); oid <= storage.OID(n); oid++ {
		if err := tx.Store(oid, 0, []byte(fmt.Sprintf("obj %d", oid))); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	tt, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return l.Addr().String(), stop, tt
}

// Many goroutines share one connection, so their requests are combined
// into shared writes and their replies read in bursts; identical loads
// share one request. Every caller must get its own object's data, and
// ordinary calls interleaved with the loads their own replies.
func TestConcurrentCalls(t *testing.T) {
	for _, enc := range []wire.Encoding{wire.Pickle, wire.Msgpack} {
		t.Run(enc.String(), func(t *testing.T) {
			addr, _, committed := populated(t, 50)
			c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second, Encoding: enc})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Encoding() != enc {
				t.Fatalf("encoding %v, want %v", c.Encoding(), enc)
			}
			var wg sync.WaitGroup
			var bad atomic.Int64
			errs := make(chan error, 64)
			for g := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 300 {
						// g%4 == 0 goroutines all load object 1: identical
						// requests in flight at once.
						oid := storage.OID(1 + (g*7+i)%50)
						if g%4 == 0 {
							oid = 1
						}
						data, start, end, ok, err := c.LoadBefore(oid, tid.Max)
						if err != nil || !ok || string(data) != fmt.Sprintf("obj %d", oid) || start != committed || end != 0 {
							bad.Add(1)
							select {
							case errs <- fmt.Errorf("load %d: %q %s %s %v %v", oid, data, start, end, ok, err):
							default:
							}
						}
						if i%50 == 0 {
							if last, err := c.LastTransaction(); err != nil || last != committed {
								bad.Add(1)
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if n := bad.Load(); n != 0 {
				t.Fatalf("%d bad results", n)
			}
			// A missing object is still a POSKeyError ServerError.
			_, _, _, _, err = c.LoadBefore(9999, tid.Max)
			if !client.IsClass(err, "POSKeyError") {
				t.Fatalf("missing object: %v, want POSKeyError", err)
			}
		})
	}
}

// When the server goes away, calls in flight and every later call fail
// with ErrDisconnected, and nothing hangs.
func TestCallsFailWhenServerStops(t *testing.T) {
	addr, stop, _ := populated(t, 10)
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				_, _, _, _, err := c.LoadBefore(storage.OID(1+(g+i)%10), tid.Max)
				if err != nil {
					if errors.Is(err, client.ErrDisconnected) {
						failed.Add(1)
					} else {
						t.Errorf("load error %v, want ErrDisconnected", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	stop()
	wg.Wait()
	if n := failed.Load(); n != 8 {
		t.Fatalf("%d loaders saw ErrDisconnected, want 8", n)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server stopped")
	}
	if err := c.Ping(); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("Ping after disconnect: %v", err)
	}
	if err := c.CallAsync("ping"); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("CallAsync after disconnect: %v", err)
	}
}

// BenchmarkClientLoadBefore measures loadBefore calls through this
// client against an in-process server: one call at a time (a lone
// caller's latency path) and 8 callers sharing a connection (the write
// combining path). Server and client share the CPUs, so ns/op is their
// sum; allocs/op includes the server's.
func BenchmarkClientLoadBefore(b *testing.B) {
	addr, _, _ := populated(b, 1000)
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, _, ok, err := c.LoadBefore(storage.OID(1+i%1000), tid.Max); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("parallel8", func(b *testing.B) {
		b.ReportAllocs()
		var n atomic.Int64
		b.SetParallelism(4) // 2 cores x 4 = 8 callers on this machine class
		b.RunParallel(func(pb *testing.PB) {
			// Each caller walks the objects from its own place, so
			// identical requests in flight (which share one) stay rare.
			i := n.Add(131)
			for pb.Next() {
				i++
				if _, _, _, ok, err := c.LoadBefore(storage.OID(1+i%1000), tid.Max); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}
