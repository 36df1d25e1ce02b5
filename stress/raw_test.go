package stress

import (
	"net"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// rawConn is a ZEO connection driven by hand, for clients that misbehave
// in ways the Go client never would.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	enc wire.Encoding
	id  int64
}

// rawDial connects and, when handshake is true, answers the server's
// protocol frame with the same one.
func rawDial(t *testing.T, addr string, handshake bool) *rawConn {
	t.Helper()
	network, a := client.Network(addr)
	nc, err := net.DialTimeout(network, a, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	r := &rawConn{t: t, nc: nc}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	id, err := wire.ReadFrame(nc, 64)
	if err != nil {
		t.Fatalf("reading the server's protocol frame: %v", err)
	}
	r.enc, err = wire.ParseProtocolID(id)
	if err != nil {
		t.Fatal(err)
	}
	if handshake {
		if err := wire.WriteFrame(nc, id); err != nil {
			t.Fatal(err)
		}
	}
	nc.SetDeadline(time.Time{})
	return r
}

// send writes one call and returns its message id.
func (r *rawConn) send(method string, args ...any) int64 {
	r.t.Helper()
	r.id++
	b, err := r.enc.Encode(wire.Message{ID: r.id, Flags: false, Method: method, Args: wire.Tuple(args)})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wire.WriteFrame(r.nc, b); err != nil {
		r.t.Fatalf("sending %s: %v", method, err)
	}
	return r.id
}

// call sends a call and reads messages until its reply (callbacks are
// skipped). It returns the reply and whether it was an exception.
func (r *rawConn) call(method string, args ...any) (any, bool) {
	r.t.Helper()
	id := r.send(method, args...)
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer r.nc.SetReadDeadline(time.Time{})
	for {
		f, err := wire.ReadFrame(r.nc, 1<<26)
		if err != nil {
			r.t.Fatalf("waiting for the reply to %s: %v", method, err)
		}
		m, err := r.enc.Decode(f)
		if err != nil {
			r.t.Fatalf("reply to %s: %v", method, err)
		}
		if m.Method != wire.ReplyMethod {
			continue
		}
		if got, ok := wire.AsInt(m.ID); ok && got == id {
			return m.Args, m.IsError()
		}
	}
}

// closedWithin reports whether the server closes the connection (read
// returns an error or EOF) within d; anything the server sends before
// is discarded.
func (r *rawConn) closedWithin(d time.Duration) bool {
	r.nc.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		_, err := r.nc.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}
