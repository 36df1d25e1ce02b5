package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// ErrCacheOutOfSync is what a reconnect reports when the server's last
// tid is behind what the session has already seen (ZEO's "Client cache is
// out of sync with the server"): the session keeps retrying, as
// ClientStorage does.
var ErrCacheOutOfSync = errors.New("zeo client: client cache is out of sync with the server")

// Session is a connection that survives disconnects: it redials every
// RetryDelay plus up to the same again at random (ZEO's 1 s + random),
// registers, and calls getInvalidations(last seen tid) so the caller
// learns what changed while it was away: OnInvalidate gets the (tid, oids)
// answer, OnCacheDrop is called when the server cannot tell (None) and a
// cache must be dropped.
type Session struct {
	addrs      []string
	opts       Options
	RetryDelay time.Duration
	// OnCacheDrop is called (on the reconnect goroutine) when
	// getInvalidations answers None.
	OnCacheDrop func()
	// OnError receives reconnect failures (nil: ignored).
	OnError func(error)

	mu      sync.Mutex
	cur     *Client
	ready   chan struct{} // closed while cur is usable
	last    tid.TID
	closed  bool
	stopped chan struct{}
}

// NewSession dials and registers once, then keeps the connection up
// until Close.
func NewSession(ctx context.Context, addrs []string, opts Options) (*Session, error) {
	s := &Session{addrs: addrs, opts: opts, RetryDelay: time.Second, ready: make(chan struct{}), stopped: make(chan struct{})}
	c, err := Dial(ctx, addrs, opts)
	if err != nil {
		return nil, err
	}
	s.install(c)
	go s.loop()
	return s, nil
}

func (s *Session) install(c *Client) {
	s.mu.Lock()
	s.cur = c
	close(s.ready)
	s.mu.Unlock()
}

// Client returns the connected client, waiting for a reconnect if needed.
func (s *Session) Client(ctx context.Context) (*Client, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, ErrDisconnected
		}
		c, ready := s.cur, s.ready
		s.mu.Unlock()
		select {
		case <-ready:
			select {
			case <-c.Done():
				time.Sleep(time.Millisecond) // the loop is replacing it
				continue
			default:
				return c, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the session.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.cur
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
	<-s.stopped
	return nil
}

func (s *Session) loop() {
	defer close(s.stopped)
	for {
		s.mu.Lock()
		c := s.cur
		s.mu.Unlock()
		<-c.Done()
		if t := c.LastSeen(); t > s.last {
			s.last = t
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.ready = make(chan struct{})
		s.mu.Unlock()
		for {
			d := s.RetryDelay + time.Duration(rand.Int64N(int64(s.RetryDelay)+1))
			time.Sleep(d)
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			nc, err := s.reconnect()
			if err != nil {
				if s.OnError != nil {
					s.OnError(err)
				}
				continue
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				nc.Close()
				return
			}
			s.mu.Unlock()
			s.install(nc)
			break
		}
	}
}

// reconnect dials, registers and brings the caller up to date.
func (s *Session) reconnect() (*Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.addrs, s.opts)
	if err != nil {
		return nil, err
	}
	switch {
	case s.last == 0 || c.LastTID == s.last:
		// nothing seen yet, or up to date ("Cache up to date")
	case c.LastTID < s.last:
		c.Close()
		return nil, fmt.Errorf("%w: server at %s, seen %s", ErrCacheOutOfSync, c.LastTID, s.last)
	default:
		v, err := c.Call("getInvalidations", storage.TIDBytes(s.last))
		if err != nil {
			c.Close()
			return nil, err
		}
		if v == nil {
			if s.OnCacheDrop != nil {
				s.OnCacheDrop()
			}
		} else if t, ok := wire.AsSeq(v); ok && len(t) == 2 && s.opts.OnInvalidate != nil {
			tb, _ := wire.AsBytes(t[0])
			list, _ := wire.AsSeq(t[1])
			oids := make([]storage.OID, 0, len(list))
			for _, o := range list {
				b, _ := wire.AsBytes(o)
				if oid, err := storage.OIDFromBytes(b); err == nil {
					oids = append(oids, oid)
				}
			}
			s.opts.OnInvalidate(tid.FromBytes(tb), oids)
		}
	}
	return c, nil
}
