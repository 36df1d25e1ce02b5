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

// rawConn is a registered connection of the lean speaker.
type rawConn struct {
	nc  net.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	enc wire.Encoding
	id  int64
}

func rawDial(cfg Config) (*rawConn, error) {
	network, a := client.Network(cfg.Addr)
	nc, err := net.DialTimeout(network, a, 10*time.Second)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10)}
	id, err := wire.ReadFrame(rc.br, 64)
	if err == nil {
		rc.enc, err = wire.ParseProtocolID(id)
	}
	if err == nil {
		err = wire.WriteFrame(nc, rc.enc.ProtocolID())
	}
	if err == nil {
		_, err = rc.call("register", cfg.Storage, false)
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return rc, nil
}

func (rc *rawConn) send(id int64, async bool, method string, args ...any) error {
	b, err := rc.enc.Encode(wire.Message{ID: id, Flags: async, Method: method, Args: wire.Tuple(args)})
	if err != nil {
		return err
	}
	_, err = rc.bw.Write(wire.AppendFrame(nil, b))
	return err
}

// call sends a synchronous call (after whatever is buffered) and reads
// until its reply, skipping the server's callbacks.
func (rc *rawConn) call(method string, args ...any) (any, error) {
	rc.id++
	if err := rc.send(rc.id, false, method, args...); err != nil {
		return nil, err
	}
	if err := rc.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		f, err := wire.ReadFrame(rc.br, 0)
		if err != nil {
			return nil, err
		}
		m, err := rc.enc.Decode(f)
		if err != nil {
			return nil, err
		}
		if m.Method != wire.ReplyMethod {
			continue
		}
		if m.IsError() {
			return nil, fmt.Errorf("%s: %s", method, wire.Repr(m.Args))
		}
		return m.Args, nil
	}
}

// rawCommits: one lean connection per worker, one-object transactions
// (tpc_begin and storea one-way, then vote and tpc_finish), as
// commitOne does through pkg/zeo/client.
func rawCommits(ctx context.Context, cfg Config, base storage.OID, payload []byte) (commits int64, lat []time.Duration, firstErr error) {
	var (
		total   atomic.Int64
		remain  atomic.Int64
		mu      sync.Mutex
		wg      sync.WaitGroup
		errOnce sync.Once
	)
	remain.Store(int64(cfg.Count))
	fail := func(err error) { errOnce.Do(func() { firstErr = err }) }
	conns := make([]*rawConn, cfg.Conns)
	for i := range conns {
		rc, err := rawDial(cfg)
		if err != nil {
			return 0, nil, err
		}
		defer rc.nc.Close()
		conns[i] = rc
	}
	stop := context.AfterFunc(ctx, func() {
		for _, rc := range conns {
			rc.nc.SetDeadline(time.Now())
		}
	})
	defer stop()
	for i, rc := range conns {
		oid := base + storage.OID(i*cfg.Inflight)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, own...)
				mu.Unlock()
			}()
			var serial tid.TID
			if v, err := rc.call("loadBefore", oid.Bytes(), storage.TIDBytes(tid.Max)); err == nil {
				if t, ok := wire.AsSeq(v); ok && len(t) == 3 {
					b, _ := wire.AsBytes(t[1])
					serial = tid.FromBytes(b)
				}
			} else if ctx.Err() != nil {
				return
			}
			txn := int64(1_000_000_000) * int64(i+1)
			for ctx.Err() == nil {
				if cfg.Count > 0 && remain.Add(-1) < 0 {
					return
				}
				t0 := time.Now()
				txn++
				rc.send(0, true, "tpc_begin", txn, []byte("zeobench"), []byte{}, &wire.Dict{}, nil, " ")
				rc.send(0, true, "storea", oid.Bytes(), storage.TIDBytes(serial), payload, txn)
				v, err := rc.call("vote", txn)
				if err == nil {
					if l, _ := wire.AsSeq(v); len(l) != 0 {
						err = fmt.Errorf("vote: %s", wire.Repr(v))
					}
				}
				if err == nil {
					v, err = rc.call("tpc_finish", txn)
				}
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					return
				}
				b, _ := wire.AsBytes(v)
				serial = tid.FromBytes(b)
				own = append(own, time.Since(t0))
				total.Add(1)
			}
		}()
	}
	wg.Wait()
	return total.Load(), lat, firstErr
}
