package zeobench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// rawLoads is the -raw load generator: per connection, a lean pipelined
// ZEO speaker built on pkg/zeo/wire (buffered reads and writes, up to
// inflight loadBefore requests outstanding, replies matched in order, as
// the server answers one connection's requests in order). It measures
// what the server can serve when the client library is not the
// bottleneck; pkg/zeo/client costs more CPU per call than the server
// does (docs/performance.md).
func rawLoads(ctx context.Context, cfg Config) (loads int64, lat []time.Duration, firstErr error) {
	var (
		total   atomic.Int64
		remain  atomic.Int64
		mu      sync.Mutex
		wg      sync.WaitGroup
		errOnce sync.Once
	)
	remain.Store(int64(cfg.Count))
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	for ci := 0; ci < cfg.Conns; ci++ {
		network, a := client.Network(cfg.Addr)
		nc, err := net.DialTimeout(network, a, 10*time.Second)
		if err != nil {
			return 0, nil, err
		}
		defer nc.Close()
		br := bufio.NewReaderSize(nc, 64<<10)
		bw := bufio.NewWriterSize(nc, 64<<10)
		id, err := wire.ReadFrame(br, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("reading server protocol: %w", err)
		}
		enc, err := wire.ParseProtocolID(id)
		if err != nil {
			return 0, nil, err
		}
		if err := wire.WriteFrame(nc, enc.ProtocolID()); err != nil {
			return 0, nil, err
		}
		reg, _ := enc.Encode(wire.Message{ID: int64(0), Flags: false, Method: "register", Args: wire.Tuple{cfg.Storage, true}})
		if err := wire.WriteFrame(nc, reg); err != nil {
			return 0, nil, err
		}
		for {
			f, err := wire.ReadFrame(br, 0)
			if err != nil {
				return 0, nil, err
			}
			m, err := enc.Decode(f)
			if err != nil {
				return 0, nil, err
			}
			if m.Method == wire.ReplyMethod {
				if m.IsError() {
					return 0, nil, fmt.Errorf("register: %s", wire.Repr(m.Args))
				}
				break
			}
		}
		window := cfg.Inflight
		sent := make([]time.Time, window)
		tokens := make(chan struct{}, window)
		for i := 0; i < window; i++ {
			tokens <- struct{}{}
		}
		var stopping atomic.Bool
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			// At the end, wait for the outstanding replies, then stop the
			// reader with a read deadline.
			defer func() {
				bw.Flush()
				for t0 := time.Now(); len(tokens) < window && time.Since(t0) < 5*time.Second; {
					time.Sleep(100 * time.Microsecond)
				}
				stopping.Store(true)
				nc.SetReadDeadline(time.Now())
			}()
			rng := rand.New(rand.NewPCG(uint64(ci), 11))
			before := storage.TIDBytes(tid.Max)
			for n := int64(1); ctx.Err() == nil; n++ {
				if cfg.Count > 0 && remain.Add(-1) < 0 {
					break
				}
				select {
				case <-tokens:
				default:
					if err := bw.Flush(); err != nil {
						fail(err)
						return
					}
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
				}
				oid := storage.OID(1 + rng.IntN(cfg.Objects))
				b, err := enc.Encode(wire.Message{ID: n, Flags: false, Method: "loadBefore", Args: wire.Tuple{oid.Bytes(), before}})
				if err != nil {
					fail(err)
					return
				}
				sent[n%int64(window)] = time.Now()
				bw.Write(wire.AppendFrame(nil, b))
			}
		}()
		go func() { // reader: replies come in request order
			defer wg.Done()
			var own []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, own...)
				mu.Unlock()
			}()
			for n := int64(1); ; n++ {
				f, err := wire.ReadFrame(br, 0)
				if err != nil {
					if !stopping.Load() {
						fail(err)
					}
					return
				}
				m, err := enc.Decode(f)
				if err != nil {
					fail(err)
					return
				}
				if m.Method != wire.ReplyMethod {
					n-- // a callback (info, invalidation)
					continue
				}
				if m.IsError() || m.Args == nil {
					fail(fmt.Errorf("loadBefore: %s", wire.Repr(m.Args)))
					return
				}
				own = append(own, time.Since(sent[n%int64(window)]))
				total.Add(1)
				tokens <- struct{}{}
			}
		}()
	}
	wg.Wait()
	return total.Load(), lat, firstErr
}
