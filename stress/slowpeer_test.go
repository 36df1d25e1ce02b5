package stress

import (
	"encoding/binary"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
)

// TestPartialFramesDropped: connections that announce a large frame and
// send half of it (20 of 63 MiB with ZDKIT_STRESS=1, 4 of 8 MiB
// otherwise) are dropped after frame-timeout, and runzeo's peak RSS
// grows by at most 4 times one frame plus 64 MiB: large frames share
// the server's frame memory (it grew by 1 GB before). A client
// connected all along goes on.
func TestPartialFramesDropped(t *testing.T) {
	t.Parallel()
	n, frame := 4, 8<<20
	if stressMode() {
		n, frame = 20, 63<<20
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "  frame-timeout 1", ""))
	pid := p.cmd.Process.Pid
	bystander := dial(t, addr, client.Options{})
	hwm0 := hwmKiB(t, pid)
	conns := make([]*rawConn, n)
	for i := range conns {
		conns[i] = rawDial(t, addr, true)
	}
	var wg sync.WaitGroup
	closed := make([]bool, n)
	for i, r := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The server reads a frame only once it has the memory for
			// it: the writes of the others wait meanwhile.
			r.nc.SetWriteDeadline(time.Now().Add(time.Duration(n)*5*time.Second + 30*time.Second))
			b := binary.BigEndian.AppendUint32(nil, uint32(frame))
			r.nc.Write(append(b, make([]byte, frame/2)...))
			closed[i] = r.closedWithin(time.Duration(n)*5*time.Second + 30*time.Second)
		}()
	}
	wg.Wait()
	for i, c := range closed {
		if !c {
			t.Fatalf("connection %d with half a frame was not closed", i)
		}
	}
	if err := bystander.Ping(); err != nil {
		t.Fatal(err)
	}
	grew := hwmKiB(t, pid) - hwm0
	if !loggedWithin(p, "(frame-timeout)", 5*time.Second) {
		t.Errorf("no frame-timeout log line:\n%.3000s", p.out.String())
	}
	report(t, "%d connections each sending half of a %d MiB frame: dropped after frame-timeout 1 s; peak RSS %d KiB, +%d KiB (%.2fx one frame)",
		n, frame>>20, hwm0, grew, float64(grew)*1024/float64(frame))
	if grew > memoryBoundKiB(frame) {
		t.Errorf("%d half-sent %d MiB frames raised runzeo's peak RSS by %d MiB, over 4x one frame + 64 MiB", n, frame>>20, grew>>10)
	}
	p.stop()
}

// TestIdleUnregisteredConnections: a thousand connections (200 in the
// normal run) complete the handshake and never register, as many as
// max-connections allows. Once they have waited 5 s, a real client
// still gets in: the oldest idle one is closed to make room. The
// refusals and closings are logged once per 10 s with a summary line,
// not once each (45,454 lines in 10 s before).
func TestIdleUnregisteredConnections(t *testing.T) {
	t.Parallel()
	n := 200
	if stressMode() {
		n = 1000
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, fmt.Sprintf("  max-connections %d", n), ""))
	for range n {
		rawDial(t, addr, true)
	}
	// As many again: refused (the first ones have not waited 5 s yet).
	for range n {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	time.Sleep(6 * time.Second)
	c, err := tryDial(addr, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("a real client with %d idle unregistered connections open: %v", n, err)
	}
	defer c.Close()
	if err := c.Ping(); err != nil {
		t.Fatal(err)
	}
	out := p.out.String()
	refused := strings.Count(out, "refused connection from")
	closedLines := strings.Count(out, "closed unregistered connection from")
	if !loggedWithin(p, "more connections refused or closed to make room", 15*time.Second) {
		t.Errorf("no summary line for the refused connections")
	}
	report(t, "%d idle unregistered connections and %d more refused: a real client got in after 6 s; %d 'refused' and %d 'closed' lines logged",
		n, n, refused, closedLines)
	if refused+closedLines > 3 {
		t.Errorf("%d lines logged for %d refused connections, want one per 10 s interval and a summary", refused+closedLines, n)
	}
	p.stop()
}
