package runzeo

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// freePort is a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startConf writes conf into dir and starts runzeo -C on it.
func startConf(t *testing.T, dir, name, conf string) *runzeoProc {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return startRunzeo(t, "", "-C", path)
}

// invals records the invalidations one client receives.
type invals struct {
	mu   sync.Mutex
	tids []tid.TID
	oids map[tid.TID][]storage.OID
	more chan struct{}
}

func newInvals() *invals {
	return &invals{oids: map[tid.TID][]storage.OID{}, more: make(chan struct{}, 1)}
}

func (iv *invals) on(t tid.TID, oids []storage.OID) {
	iv.mu.Lock()
	iv.tids = append(iv.tids, t)
	iv.oids[t] = oids
	iv.mu.Unlock()
	select {
	case iv.more <- struct{}{}:
	default:
	}
}

// waitFor waits until the invalidation of t has arrived and returns its
// oids.
func (iv *invals) waitFor(t *testing.T, want tid.TID) []storage.OID {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		iv.mu.Lock()
		oids, ok := iv.oids[want]
		iv.mu.Unlock()
		if ok {
			return oids
		}
		select {
		case <-iv.more:
		case <-deadline:
			t.Fatalf("no invalidation for %s within 20 s", want)
		}
	}
}

func (iv *invals) list() []tid.TID {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	return append([]tid.TID(nil), iv.tids...)
}

func dialWait(t *testing.T, addr string, iv *invals) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := client.Options{}
	if iv != nil {
		opts.OnInvalidate = iv.on
	}
	c, err := client.DialWait(ctx, []string{addr}, opts)
	if err != nil {
		t.Fatalf("connecting to %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// commit stores data (and, when blob is not nil, a blob) for oid based
// on serial and returns the new tid.
func commit(t *testing.T, c *client.Client, oid storage.OID, serial tid.TID, data, blob []byte) tid.TID {
	t.Helper()
	n, err := tryCommit(c, oid, serial, data, blob)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func tryCommit(c *client.Client, oid storage.OID, serial tid.TID, data, blob []byte) (tid.TID, error) {
	tx, err := c.Begin("", "", nil)
	if err != nil {
		return 0, err
	}
	if blob != nil {
		err = tx.StoreBlob(oid, serial, data, blob)
	} else {
		err = tx.Store(oid, serial, data)
	}
	if err != nil {
		return 0, err
	}
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		return 0, fmt.Errorf("vote: conflicts %v, error %v", cf, err)
	}
	return tx.Finish()
}

func newOID(t *testing.T, c *client.Client) storage.OID {
	t.Helper()
	oids, err := c.NewOIDs(1)
	if err != nil || len(oids) != 1 {
		t.Fatalf("new_oids: %v %v", oids, err)
	}
	return oids[0]
}

func loadIs(t *testing.T, c *client.Client, oid storage.OID, wantData []byte, wantTID tid.TID) {
	t.Helper()
	data, serial, err := c.Load(oid)
	if err != nil {
		t.Fatalf("load %s: %v", oid, err)
	}
	if !bytes.Equal(data, wantData) || serial != wantTID {
		t.Fatalf("load %s = %q at %s, want %q at %s", oid, data, serial, wantData, wantTID)
	}
}

// An upstream runzeo on a FileStorage and a fan-out runzeo serving it
// through <zeoclient>: commits made through either are seen through the
// other, invalidations reach the clients of both, in tid order, and
// blobs go both ways.
func TestZEOClientFanOut(t *testing.T) {
	dir := t.TempDir()
	upPort, fanPort := freePort(t), freePort(t)
	upAddr, fanAddr := "127.0.0.1:"+strconv.Itoa(upPort), "127.0.0.1:"+strconv.Itoa(fanPort)
	upConf := fmt.Sprintf("<zeo>\naddress %s\n</zeo>\n<filestorage>\npath %s\nblob-dir %s\n</filestorage>\n",
		upAddr, filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs"))
	up := startConf(t, dir, "up.conf", upConf)
	dialWait(t, upAddr, nil) // the upstream is up before the fan-out starts
	fan := startConf(t, dir, "fan.conf", fmt.Sprintf("<zeo>\naddress %s\n</zeo>\n<zeoclient>\nserver %s\nblob-dir %s\n</zeoclient>\n",
		fanAddr, upAddr, filepath.Join(dir, "fanblobs")))

	upInv, fanInv, fan2Inv := newInvals(), newInvals(), newInvals()
	cu := dialWait(t, upAddr, upInv)
	cf := dialWait(t, fanAddr, fanInv)
	cf2 := dialWait(t, fanAddr, fan2Inv)
	if cf.LastTID != cu.LastTID {
		t.Fatalf("fan-out registers at %s, upstream at %s", cf.LastTID, cu.LastTID)
	}

	// Upstream commit: the fan-out's clients are told and load it.
	oid := newOID(t, cu)
	t1 := commit(t, cu, oid, 0, []byte("from upstream"), nil)
	if got := fanInv.waitFor(t, t1); len(got) != 1 || got[0] != oid {
		t.Fatalf("fan-out client invalidated %v for %s, want [%s]", got, t1, oid)
	}
	loadIs(t, cf, oid, []byte("from upstream"), t1)

	// Commit through the fan-out: upstream clients and the fan-out's
	// other client are told; both servers serve the new data.
	t2 := commit(t, cf, oid, t1, []byte("through the fan-out"), nil)
	if t2 <= t1 {
		t.Fatalf("fan-out commit tid %s not after %s", t2, t1)
	}
	if got := upInv.waitFor(t, t2); len(got) != 1 || got[0] != oid {
		t.Fatalf("upstream client invalidated %v for %s, want [%s]", got, t2, oid)
	}
	if got := fan2Inv.waitFor(t, t2); len(got) != 1 || got[0] != oid {
		t.Fatalf("second fan-out client invalidated %v for %s, want [%s]", got, t2, oid)
	}
	loadIs(t, cu, oid, []byte("through the fan-out"), t2)
	loadIs(t, cf2, oid, []byte("through the fan-out"), t2)

	// A stale serial through the fan-out is a ConflictError for its
	// client (the upstream's conflict, reported at vote).
	tx, err := cf.Begin("", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(oid, t1, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.Vote(); !client.IsClass(err, "ConflictError") {
		t.Fatalf("vote with a stale serial: %v, want ConflictError", err)
	}
	tx.Abort()

	// Commits through both servers at once: every client of the fan-out
	// sees all of them, in increasing tid order.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		all     []tid.TID
		fromFan = map[tid.TID]bool{}
	)
	errs := make(chan error, 2)
	run := func(c *client.Client, viaFan bool) {
		defer wg.Done()
		oids, err := c.NewOIDs(1)
		if err != nil {
			errs <- err
			return
		}
		var serial tid.TID
		for i := 0; i < 15; i++ {
			if serial, err = tryCommit(c, oids[0], serial, []byte(fmt.Sprintf("rev %d", i)), nil); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			all = append(all, serial)
			fromFan[serial] = viaFan
			mu.Unlock()
		}
	}
	wg.Add(2)
	go run(cu, false)
	go run(cf, true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, x := range all {
		fan2Inv.waitFor(t, x)
		if !fromFan[x] {
			fanInv.waitFor(t, x)
		}
	}
	for name, iv := range map[string]*invals{"fan-out client": fanInv, "second fan-out client": fan2Inv, "upstream client": upInv} {
		got := iv.list()
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatalf("%s: invalidation %s after %s: out of order (%v)", name, got[i], got[i-1], got)
			}
		}
	}

	// Blobs: stored through the fan-out, read from both servers.
	boid := newOID(t, cf)
	blob := bytes.Repeat([]byte("blob "), 30000)
	bt := commit(t, cf, boid, 0, []byte("blob record"), blob)
	for name, c := range map[string]*client.Client{"upstream": cu, "fan-out": cf2} {
		got, err := c.LoadBlob(boid, bt)
		if err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("%s: blob of %s: %d bytes, error %v; want %d bytes", name, boid, len(got), err, len(blob))
		}
	}

	// The upstream restarts: the fan-out reconnects and drops its
	// clients so that they revalidate (ZEO 6 notify_connected).
	if code := up.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("upstream exit status %d", code)
	}
	startConf(t, dir, "up.conf", upConf)
	select {
	case <-cf.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the fan-out kept its clients after the upstream restarted")
	}
	for _, line := range []string{"Disconnected from storage", "Reconnected to storage: ('127.0.0.1', " + strconv.Itoa(upPort) + ")"} {
		if !strings.Contains(fan.stderr.String(), line) {
			t.Errorf("the fan-out's log lacks %q", line)
		}
	}
	c3 := dialWait(t, fanAddr, nil)
	loadIs(t, c3, oid, []byte("through the fan-out"), t2)
	if code := fan.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("fan-out exit status %d", code)
	}
}
