package server

import (
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// A tpc_begin with an explicit tid far in the future (the restore path)
// is refused at the vote with a StorageTransactionError saying why;
// nothing is committed and later commits get ordinary tids. A tid a
// few minutes ahead (clocks that disagree) is still accepted.
func TestRestoreTIDFarInFutureRefused(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	for _, far := range []tid.TID{0xFFFFFFFFFFFFFFFF, tid.FromTime(time.Now().Add(MaxRestoreAhead + time.Hour))} {
		const id = 4242
		if err := c.CallAsync("tpc_begin", id, []byte("u"), []byte("d"), &wire.Dict{}, storage.TIDBytes(far), " "); err != nil {
			t.Fatal(err)
		}
		if err := c.CallAsync("storea", storage.OID(7).Bytes(), storage.TIDBytes(0), []byte("x"), id); err != nil {
			t.Fatal(err)
		}
		_, err := c.Call("vote", id)
		if !client.IsClass(err, "StorageTransactionError") || !strings.Contains(err.Error(), "ahead of the server's clock") || !strings.Contains(err.Error(), far.Repr()) {
			t.Fatalf("vote with tid %s: %v, want StorageTransactionError naming the tid and the clock", far.Repr(), err)
		}
		if _, _, err := c.Load(7); !client.IsClass(err, "POSKeyError") {
			t.Fatalf("refused restore stored oid 7: %v", err)
		}
	}
	got := commit(t, c, nil, map[storage.OID][]byte{1: []byte("a")})
	if limit := tid.FromTime(time.Now().Add(time.Minute)); got > limit {
		t.Errorf("commit after the refusal took tid %s, beyond now", got)
	}
	// Slightly ahead: accepted.
	near := tid.FromTime(time.Now().Add(10 * time.Minute))
	if err := c.CallAsync("tpc_begin", 4343, []byte(""), []byte(""), &wire.Dict{}, storage.TIDBytes(near), " "); err != nil {
		t.Fatal(err)
	}
	if err := c.CallAsync("storea", storage.OID(8).Bytes(), storage.TIDBytes(0), []byte("y"), 4343); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("vote", 4343); err != nil {
		t.Fatalf("vote with a tid 10 minutes ahead: %v", err)
	}
	v, err := c.Call("tpc_finish", 4343)
	if b, _ := wire.AsBytes(v); err != nil || tid.FromBytes(b) != near {
		t.Fatalf("tpc_finish: %v %v, want tid %s", wire.Repr(v), err, near.Repr())
	}
}

// logRecorder collects a server's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) log(l Level, name, msg string) {
	r.mu.Lock()
	r.lines = append(r.lines, msg)
	r.mu.Unlock()
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// count is the number of lines containing sub.
func (r *logRecorder) count(sub string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// rawHandshake dials addr and completes the protocol handshake without
// registering.
func rawHandshake(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := wire.ReadFrame(nc, 0); err != nil {
		t.Fatal(err)
	}
	if err := wire.WriteFrame(nc, []byte("Z5")); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Time{})
	return nc
}

// closedWithin reports whether the server closes nc within d.
func closedWithin(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	for {
		_, err := nc.Read(b[:])
		if err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// A frame begun and not finished (the length word of a 10 MiB frame
// and 1,000 bytes of it) is dropped after frame-timeout; a registered
// client idle between frames for longer is not.
func TestPartialFrameTimeout(t *testing.T) {
	var rec logRecorder
	addr, _ := newMapping(t, Options{FrameTimeout: 300 * time.Millisecond, Log: rec.log})
	idle := dial(t, addr, client.Options{})
	nc := rawHandshake(t, addr)
	hdr := binary.BigEndian.AppendUint32(nil, 10<<20)
	if _, err := nc.Write(append(hdr, make([]byte, 1000)...)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(nc, 5*time.Second) {
		t.Fatal("a connection with a partial frame was not closed after frame-timeout")
	}
	if rec.count("frame-timeout") != 1 {
		t.Errorf("no frame-timeout log line in\n%s", &rec)
	}
	time.Sleep(500 * time.Millisecond)
	if err := idle.Ping(); err != nil {
		t.Errorf("a client idle between frames was dropped: %v", err)
	}
}

// A connection that completes the handshake and never registers is
// dropped after register-timeout.
func TestRegisterTimeout(t *testing.T) {
	var rec logRecorder
	addr, _ := newMapping(t, Options{RegisterTimeout: 300 * time.Millisecond, Log: rec.log})
	nc := rawHandshake(t, addr)
	if !closedWithin(nc, 5*time.Second) {
		t.Fatal("an unregistered connection was not closed after register-timeout")
	}
	if rec.count("not registered within 300ms of its handshake (register-timeout)") != 1 {
		t.Errorf("no register-timeout log line in\n%s", &rec)
	}
	c := dial(t, addr, client.Options{})
	time.Sleep(500 * time.Millisecond)
	if err := c.Ping(); err != nil {
		t.Errorf("a registered client was dropped: %v", err)
	}
}

// Idle unregistered connections, ten times the connection limit, cannot
// lock a real client out: once they have waited registerGrace the
// oldest is closed to make room. The refusals are logged once per
// interval plus a summary line.
func TestIdleUnregisteredCannotLockOut(t *testing.T) {
	oldInterval, oldGrace := refusalInterval, registerGrace
	refusalInterval, registerGrace = 300*time.Millisecond, 200*time.Millisecond
	t.Cleanup(func() { refusalInterval, registerGrace = oldInterval, oldGrace })
	var rec logRecorder
	addr, _ := newMapping(t, Options{MaxConnections: 20, Log: rec.log})
	var held []net.Conn
	for range 200 {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		held = append(held, nc)
	}
	time.Sleep(2 * registerGrace)
	for range 3 {
		c := dial(t, addr, client.Options{})
		if err := c.Ping(); err != nil {
			t.Fatalf("a registering client was locked out: %v", err)
		}
	}
	open := 0
	for _, nc := range held {
		if !closedWithin(nc, 10*time.Millisecond) {
			open++
		}
	}
	if open > 20-3 {
		t.Errorf("%d idle unregistered connections still open beside 3 clients, want at most %d (max-connections 20)", open, 20-3)
	}
	waitFor(t, func() bool { return rec.count("more connections refused or closed to make room") >= 1 })
	if n := rec.count("closed unregistered connection from"); n > 3 {
		t.Errorf("%d lines about closed connections for 200 connections in well under a second, want one per interval", n)
	}
}

// Large frames share the server's frame memory: while one connection
// holds it with a frame begun and not finished, another connection's
// large frame waits (its small ones do not), and gets read once the
// first is dropped by frame-timeout.
func TestLargeFramesShareFrameMemory(t *testing.T) {
	const size = 2 << 20
	var rec logRecorder
	addr, _ := newMapping(t, Options{FrameMemory: frameCost(size), MaxFrame: size, FrameTimeout: time.Second, Log: rec.log})
	c := dial(t, addr, client.Options{})
	hog := rawHandshake(t, addr)
	hdr := binary.BigEndian.AppendUint32(nil, size)
	if _, err := hog.Write(append(hdr, make([]byte, 100)...)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	other := dial(t, addr, client.Options{})
	if err := other.Ping(); err != nil || rec.count("frame-timeout") != 0 {
		t.Fatalf("a small frame waited for the frame memory: %v\n%s", err, &rec)
	}
	tx, _ := c.Begin("", "", nil)
	if err := tx.Store(1, 0, make([]byte, size-200)); err != nil {
		t.Fatal(err)
	}
	// The ping is answered after the store is read, which must wait
	// until the frame holding the memory is dropped.
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	if rec.count("frame-timeout") != 1 {
		t.Fatalf("the large store was read while another frame held the frame memory:\n%s", &rec)
	}
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(hog, 5*time.Second) {
		t.Error("the connection holding the frame memory was not dropped")
	}
}

// A frame header over the default frame cap (MaxFrame unset) is refused
// at once, not left waiting for frame memory it can never get.
func TestOversizedFrameHeaderRefused(t *testing.T) {
	var rec logRecorder
	addr, _ := newMapping(t, Options{Log: rec.log})
	nc := rawHandshake(t, addr)
	if _, err := nc.Write(binary.BigEndian.AppendUint32(nil, 0x7ffffff0)); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(nc, 5*time.Second) {
		t.Fatal("a 2 GiB frame header left the connection open")
	}
	waitFor(t, func() bool { return rec.count("frame too large: 2147483632 bytes (limit 67108864)") == 1 })
}
