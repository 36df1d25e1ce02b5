package stress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// pickleStr is a protocol-3 BINUNICODE string.
func pickleStr(s string) []byte {
	b := []byte{'X', 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(b[1:], uint32(len(s)))
	return append(b, s...)
}

// osSystemCall is a message (1, False, 'register', os.system('id')) in
// protocol 3 with a GLOBAL opcode: what an attacker sends to a server that
// unpickles without an allow-list.
func osSystemCall() []byte {
	b := []byte("\x80\x03(K\x01\x89")
	b = append(b, pickleStr("register")...)
	b = append(b, "cos\nsystem\n"...)
	b = append(b, pickleStr("id")...)
	return append(b, "\x85Rt."...)
}

// osSystemStackGlobal is the same with protocol 4's STACK_GLOBAL.
func osSystemStackGlobal() []byte {
	b := []byte("\x80\x04(K\x01\x89\x8c\x08register\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85Rt.")
	return b
}

// rssKiB reads a process's resident size.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// TestHostileInput sends frames an attacker or a broken client would,
// each on its own connection, and checks that the server closes that
// connection, logs why, keeps serving a client connected all along, and
// does not balloon in memory.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", ""))
	bystander := dial(t, addr, client.Options{})
	oids, err := bystander.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	serial := tid.TID(0)
	rss0 := rssKiB(t, p.cmd.Process.Pid)

	frame := func(payload []byte) []byte { return wire.AppendFrame(nil, payload) }
	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	cases := []struct {
		name      string
		handshake bool
		send      []byte
		logWant   string // a piece of the server's log line about it
	}{
		{"GLOBAL os.system", true, frame(osSystemCall()), "unsafe global in pickle: os.system"},
		{"STACK_GLOBAL os.system", true, frame(osSystemStackGlobal()), "unsafe global in pickle: os.system"},
		{"frame header of 2 GiB", true, header(0x7ffffff0), "too large"},
		{"frame header with the ZEO 4 MAC bit", true, header(0x80000010), "MAC"},
		{"garbage handshake", false, frame([]byte("XY")), "bad handshake"},
		{"HTTP request instead of a handshake", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ""},
		{"message that is not a 4-tuple", true, frame([]byte("\x80\x03K\x05.")), "4-tuple"},
		{"truncated pickle", true, frame([]byte("\x80\x03(K\x01\x89X\xff\xff\x00\x00reg")), "deserialize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(p.out.String())
			r := rawDial(t, addr, tc.handshake)
			if _, err := r.nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if !r.closedWithin(5 * time.Second) {
				t.Fatalf("the server kept the connection open after %s", tc.name)
			}
			if tc.logWant != "" {
				deadline := time.Now().Add(3 * time.Second)
				for !strings.Contains(p.out.String()[before:], tc.logWant) && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				log := p.out.String()[before:]
				if !strings.Contains(log, tc.logWant) {
					t.Errorf("server log after %s lacks %q:\n%s", tc.name, tc.logWant, log)
				}
				for _, line := range strings.Split(log, "\n") {
					if strings.Contains(line, tc.logWant) {
						t.Logf("server logged: %s", line)
					}
				}
			}
			// The server goes on: the bystander commits and reads.
			rec := record(t, "after "+tc.name)
			nt, err := commit(bystander, oids, []tid.TID{serial}, [][]byte{rec})
			if err != nil {
				t.Fatalf("bystander's commit after %s: %v", tc.name, err)
			}
			serial = nt
			if data, s, err := bystander.Load(oids[0]); err != nil || s != nt || string(data) != string(rec) {
				t.Fatalf("bystander reads %q at %s (%v)", data, s, err)
			}
		})
	}
	if !p.alive() {
		t.Fatalf("runzeo died:\n%s", p.out.String())
	}
	if rss := rssKiB(t, p.cmd.Process.Pid); rss-rss0 > 64<<10 {
		t.Errorf("runzeo grew from %d KiB to %d KiB on hostile frames", rss0, rss)
	}
	if strings.Contains(p.out.String(), "uid=") {
		t.Errorf("something ran id(1):\n%s", p.out.String())
	}
	p.stop()
	fstest(t, path)
}

// TestThousandConnections opens 1,000 registered connections at once,
// pings on all of them concurrently, checks the server counts them, and
// that it serves normally once they are gone.
func TestThousandConnections(t *testing.T) {
	t.Parallel()
	const n = 1000
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", ""))
	conns := make([]*client.Client, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = tryDial(addr, client.Options{Timeout: 30 * time.Second})
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed < 5 {
				t.Errorf("connection %d: %v", i, err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d connections failed (the default max-connections is 1,000, so all must be served)", failed, n)
	}
	pinged := make([]error, n)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pinged[i] = c.Ping()
		}()
	}
	wg.Wait()
	for i, err := range pinged {
		if err != nil {
			t.Fatalf("ping on connection %d: %v", i, err)
		}
	}
	v, err := conns[0].Call("server_status")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := v.(*wire.Dict)
	if !ok {
		t.Fatalf("server_status is %s", wire.Repr(v))
	}
	cv, _ := d.Get("connections")
	if got, _ := wire.AsInt(cv); got != n {
		t.Errorf("server_status connections = %s, want %d", wire.Repr(cv), n)
	}
	for _, c := range conns {
		c.Close()
	}
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commit(c, []storage.OID{oids[0]}, []tid.TID{0}, [][]byte{record(t, "after 1000")}); err != nil {
		t.Fatalf("commit after 1000 connections: %v", err)
	}
	report(t, "%d concurrent registered connections served and pinged", n)
	p.stop()
}

// TestIdleHandshakeDropped: a connection that never answers the server's
// protocol frame should be dropped after a configurable timeout ("idle connections that never finish the
// handshake" are among the
// limits). runzeo has no such timeout yet.
func TestIdleHandshakeDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	// The default handshake-timeout (60 s) in the long run; 1 s here.
	extra, wait := "  handshake-timeout 1", 3*time.Second
	if stressMode() {
		extra, wait = "", 70*time.Second
	}
	p := startZEO(t, dir, addr, fsConf(path, extra, ""))
	r := rawDial(t, addr, false)
	if !r.closedWithin(wait) {
		t.Fatalf("a connection that never sent its handshake is still open after %v (handshake-timeout)", wait)
	}
	if !loggedWithin(p, "no handshake within", 5*time.Second) {
		t.Errorf("no log line for the dropped connection:\n%s", p.out.String())
	}
	p.stop()
}

// loggedWithin waits for runzeo's output to contain s: its log lines
// reach the pipe a little after the socket event the test sees.
func loggedWithin(p *zeoProc, s string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestConnectionLimit: past max-connections a new connection is closed
// before the protocol frame, with a log line; the connections already
// open go on, and once one leaves a new one is served.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, fmt.Sprintf("  max-connections %d", limit), ""))
	// startZEO's readiness probe was a connection too, and the server
	// forgets a closed connection asynchronously: until it has, one of
	// these may be refused, so each is retried for a while.
	var cs []*client.Client
	for i := 0; i < limit; i++ {
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := tryDial(addr, client.Options{Timeout: 2 * time.Second})
			if err == nil {
				t.Cleanup(func() { c.Close() })
				cs = append(cs, c)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("connection %d of max-connections %d: %v", i+1, limit, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := nc.Read(make([]byte, 64))
	if n != 0 || err == nil {
		t.Fatalf("connection %d over max-connections %d: read %d bytes (%v), want it closed", limit+1, limit, n, err)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection %d over max-connections %d left open", limit+1, limit)
	}
	if !loggedWithin(p, fmt.Sprintf("connections open (max-connections %d)", limit), 5*time.Second) {
		t.Errorf("no log line for the refused connection:\n%s", p.out.String())
	}
	for i, c := range cs {
		if err := c.Ping(); err != nil {
			t.Errorf("connection %d after the refusal: %v", i, err)
		}
	}
	cs[0].Close()
	// The server forgets the closed connection asynchronously.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tryDial(addr, client.Options{Timeout: 2 * time.Second})
		if err == nil {
			if err := c.Ping(); err != nil {
				t.Errorf("ping after a slot freed: %v", err)
			}
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one of %d closed: %v", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
}

// TestPendingStoresLimit: one transaction may hold at most 100,000
// pending stores by default (the server buffers a transaction's
// stores in memory until vote, so without a limit one client can make it
// grow without bound). The 100,001st store or the vote must be refused
// with a clear error, and the server must go on serving.
func TestPendingStoresLimit(t *testing.T) {
	t.Parallel()
	const limit = 100000
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", ""))
	c := dial(t, addr, client.Options{})
	tx, err := c.Begin("stress", "too many stores", nil)
	if err != nil {
		t.Fatal(err)
	}
	data := record(t, "s")
	var storeErr error
	for i := 0; i <= limit && storeErr == nil; i++ {
		// Fresh oids need no new_oids round trip: the server does not
		// check that an oid was handed out (neither does ZEO).
		storeErr = tx.Store(storage.OID(1<<40+i), 0, data)
	}
	var voteErr error
	if storeErr == nil {
		_, _, voteErr = tx.Vote()
	}
	if storeErr != nil || voteErr == nil {
		t.Fatalf("transaction of %d stores: store error %v, vote error %v; want the vote refused (max-pending-stores, default %d)",
			limit+1, storeErr, voteErr, limit)
	}
	if !client.IsClass(voteErr, "StorageTransactionError") || !strings.Contains(voteErr.Error(), "max-pending-stores") {
		t.Errorf("vote error %v, want StorageTransactionError naming max-pending-stores", voteErr)
	}
	t.Logf("refused: %v", voteErr)
	tx.Abort()
	// The connection and the server go on serving.
	if err := c.Ping(); err != nil {
		t.Errorf("the refused client's connection: %v", err)
	}
	c2 := dial(t, addr, client.Options{})
	oids, err := c2.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commit(c2, oids, []tid.TID{0}, [][]byte{record(t, "after the refusal")}); err != nil {
		t.Fatalf("commit after refusing %d stores: %v", limit+1, err)
	}
	if _, _, err := c2.Load(storage.OID(1 << 40)); err == nil {
		t.Errorf("a store of the refused transaction is there")
	}
	if !loggedWithin(p, "pending stores (max-pending-stores)", 5*time.Second) {
		t.Errorf("no log line for the refusal:\n%s", p.out.String())
	}
	p.stop()
}

// TestLargeRecordBelowFrameLimit: the default frame cap (64 MiB) is high
// enough for real use: a 32 MiB object commits and loads back intact.
func TestLargeRecordBelowFrameLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", ""))
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	big := record(t, strings.Repeat("0123456789abcdef", 2<<20))
	nt, err := commit(c, oids, []tid.TID{0}, [][]byte{big})
	if err != nil {
		t.Fatalf("commit of a %d-byte record: %v", len(big), err)
	}
	data, s, err := c.Load(oids[0])
	if err != nil || s != nt || !bytes.Equal(data, big) {
		t.Fatalf("load of the %d-byte record: %d bytes at %s (%v)", len(big), len(data), s, err)
	}
	c.Close()
	p.stop()
	fstest(t, path)
}

// deepPickle is a message whose args nest n lists deep: EMPTY_LIST n
// times, then APPEND n-1 times, inside the 4-tuple.
func deepPickle(n int) []byte {
	b := []byte("\x80\x03(K\x01\x89")
	b = append(b, pickleStr("register")...)
	for i := 0; i < n; i++ {
		b = append(b, ']')
	}
	for i := 0; i < n-1; i++ {
		b = append(b, 'a')
	}
	return append(b, "t."...)
}

// deepMsgpack is a 4-tuple whose last element nests n one-element
// arrays.
func deepMsgpack(n int) []byte {
	b := []byte{0x94, 0x01, 0xc2, 0xa8}
	b = append(b, "register"...)
	for i := 0; i < n; i++ {
		b = append(b, 0x91)
	}
	return append(b, 0xc0)
}

// TestHostileNesting: deeply nested values in both marshallings, and
// msgpack headers announcing billions of elements. The server must not
// crash, exhaust its stack or memory, and must go on serving.
func TestHostileNesting(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"pickle", "msgpack"} {
		t.Run(enc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Data.fs")
			addr := freeAddr(t)
			zeo := "  msgpack false"
			if enc == "msgpack" {
				zeo = "  msgpack true"
			}
			p := startZEO(t, dir, addr, fsConf(path, zeo, ""))
			bystander := dial(t, addr, client.Options{})
			rss0 := rssKiB(t, p.cmd.Process.Pid)
			var cases []struct {
				name    string
				payload []byte
			}
			add := func(name string, b []byte) {
				cases = append(cases, struct {
					name    string
					payload []byte
				}{name, b})
			}
			if enc == "pickle" {
				add("lists nested 100,000 deep", deepPickle(100000))
				add("1,000,000 MARKs", append(append([]byte("\x80\x03"), bytes.Repeat([]byte("("), 1000000)...), '.'))
			} else {
				add("arrays nested 100,000 deep", deepMsgpack(100000))
				add("array32 of 4 billion elements", []byte{0x94, 0x01, 0xc2, 0xa8, 'r', 'e', 'g', 'i', 's', 't', 'e', 'r', 0xdd, 0xff, 0xff, 0xff, 0xff})
				add("map32 of 4 billion pairs", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01})
				add("str32 of 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff, 'x'})
				add("bin32 of 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 'x'})
				add("ext32 of 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x05, 'x'})
			}
			for _, tc := range cases {
				before := len(p.out.String())
				r := rawDial(t, addr, true)
				if err := wire.WriteFrame(r.nc, tc.payload); err != nil {
					t.Fatal(err)
				}
				closed := r.closedWithin(10 * time.Second)
				if !p.alive() {
					t.Fatalf("%s killed runzeo:\n%.3000s", tc.name, p.out.String())
				}
				if !closed {
					t.Errorf("%s: connection still open after 10 s", tc.name)
				}
				if err := bystander.Ping(); err != nil {
					t.Fatalf("bystander after %s: %v", tc.name, err)
				}
				for _, line := range strings.Split(p.out.String()[before:], "\n") {
					if strings.Contains(line, "ERROR") || strings.Contains(line, "CRITICAL") {
						t.Logf("%s: server logged: %.300s", tc.name, line)
					}
				}
			}
			if rss := rssKiB(t, p.cmd.Process.Pid); rss-rss0 > 256<<10 {
				t.Errorf("runzeo grew from %d KiB to %d KiB on nested values", rss0, rss)
			}
			bystander.Close()
			p.stop()
		})
	}
}
