package clientstorage

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// upstream is a real ZEO server on a FileStorage with blobs, on a
// loopback port, that can be stopped and started again on that port.
type upstream struct {
	t    *testing.T
	dir  string
	addr string
	srv  *server.Server
	done chan struct{}
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	u.start()
	t.Cleanup(u.stop)
	return u
}

func (u *upstream) start() {
	u.t.Helper()
	st, err := fsstorage.OpenWithBlobs(filepath.Join(u.dir, "Data.fs"), filepath.Join(u.dir, "blobs"), filestorage.Options{NoSync: true})
	if err != nil {
		u.t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		u.t.Fatal(err)
	}
	l, err := net.Listen("tcp", u.addr)
	if err != nil {
		u.t.Fatal(err)
	}
	u.addr, u.srv, u.done = l.Addr().String(), srv, make(chan struct{})
	go func() { srv.Serve(l); close(u.done) }()
}

func (u *upstream) stop() {
	if u.srv != nil {
		u.srv.Close()
		<-u.done
		u.srv = nil
	}
}

// recordingRelay is a storage.Relay that records what it is given, in
// order, as a server's clients would receive it.
type recordingRelay struct {
	mu    sync.Mutex
	sent  []storage.Invalidation
	drops int
}

func (r *recordingRelay) Publish(fn func(send func(storage.Invalidation))) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(func(inv storage.Invalidation) { r.sent = append(r.sent, inv) })
}

func (r *recordingRelay) PublishInFinish(inv storage.Invalidation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, inv)
}

func (r *recordingRelay) DropClients() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drops++
}

func (r *recordingRelay) snapshot() ([]storage.Invalidation, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]storage.Invalidation(nil), r.sent...), r.drops
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func open(t *testing.T, u *upstream, blobDir string) storage.Storage {
	t.Helper()
	st, err := Open(context.Background(), Config{Addrs: []string{u.addr}, BlobDir: blobDir,
		Var: t.TempDir(), RetryDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func store(t *testing.T, st storage.Storage, oid storage.OID, serial tid.TID, data []byte) tid.TID {
	t.Helper()
	tx, err := st.Begin(storage.TxnMeta{User: []byte("u"), Description: []byte("d"),
		Extension: []storage.ExtItem{{Key: "k", Value: int64(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(oid, serial, data); err != nil {
		t.Fatal(err)
	}
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestForwardsToUpstream(t *testing.T) {
	u := startUpstream(t)
	st := open(t, u, "")
	if want := "[('127.0.0.1', " + u.addr[len("127.0.0.1:"):] + ")]"; st.Info().Name != want {
		t.Fatalf("name %q, want ClientStorage's %q", st.Info().Name, want)
	}
	o1, err := st.NewOID()
	if err != nil {
		t.Fatal(err)
	}
	o2, err := st.NewOID()
	if err != nil || o2 != o1+1 {
		t.Fatalf("second oid %s (%v), want %s from the same batch", o2, err, o1+1)
	}
	t1 := store(t, st, o1, 0, []byte("one"))
	if st.LastTransaction() != t1 {
		t.Fatalf("last transaction %s, want our commit %s", st.LastTransaction(), t1)
	}
	t2 := store(t, st, o1, t1, []byte("two"))
	data, start, end, ok, err := st.LoadBefore(o1, t2)
	if err != nil || !ok || string(data) != "one" || start != t1 || end != t2 {
		t.Fatalf("loadBefore(%s) = %q %s %s %v %v, want \"one\" %s %s", t2, data, start, end, ok, err, t1, t2)
	}
	if b, err := st.LoadSerial(o1, t1); err != nil || string(b) != "one" {
		t.Fatalf("loadSerial = %q, %v", b, err)
	}
	h, err := st.History(o1, 10)
	if err != nil || len(h) != 2 || h[0].TID != t2 || h[1].TID != t1 || string(h[0].User) != "u" || string(h[0].Description) != "d" {
		t.Fatalf("history = %+v, %v", h, err)
	}
	var pk *storage.POSKeyError
	if _, _, _, _, err := st.LoadBefore(o2, tid.Max); !errors.As(err, &pk) || pk.OID != o2 {
		t.Fatalf("loading a missing oid: %v, want POSKeyError %s", err, o2)
	}

	// A stale serial: the upstream's conflict, at vote.
	tx, err := st.Begin(storage.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(o1, t1, []byte("stale")); err != nil {
		t.Fatal(err)
	}
	var ce *storage.ConflictError
	if err := tx.Vote(); !errors.As(err, &ce) || ce.OID != o1 || ce.Committed != t2 || ce.Serial != t1 {
		t.Fatalf("vote on a stale serial: %v, want ConflictError on %s (%s, %s)", err, o1, t2, t1)
	}
	tx.Abort()

	if _, err := st.Begin(storage.TxnMeta{TID: t2 + 1}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("a restore transaction: %v, want ErrUnsupported", err)
	}
}

// The upstream's other clients' commits are relayed in tid order; those
// older than a commit of ours reach the relay before Finish returns.
func TestRelaysInTidOrder(t *testing.T) {
	u := startUpstream(t)
	st := open(t, u, "")
	rel := &recordingRelay{}
	st.(storage.Relayer).SetRelay(rel)
	other, err := client.Dial(context.Background(), []string{u.addr}, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oids, err := other.NewOIDs(2)
	if err != nil {
		t.Fatal(err)
	}
	var theirs []tid.TID
	var serial tid.TID
	for i := 0; i < 5; i++ {
		tx, _ := other.Begin("", "", nil)
		tx.Store(oids[0], serial, []byte(strconv.Itoa(i)))
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		if serial, err = tx.Finish(); err != nil {
			t.Fatal(err)
		}
		theirs = append(theirs, serial)
	}
	mine, err := st.NewOID()
	if err != nil {
		t.Fatal(err)
	}
	ours := store(t, st, mine, 0, []byte("ours"))
	sent, _ := rel.snapshot()
	if len(sent) != len(theirs) {
		t.Fatalf("relayed %d transactions before our commit returned, want the %d older ones: %+v", len(sent), len(theirs), sent)
	}
	for i, inv := range sent {
		if inv.TID != theirs[i] || len(inv.OIDs) != 1 || inv.OIDs[0] != oids[0] {
			t.Fatalf("relayed #%d = %+v, want %s [%s]", i, inv, theirs[i], oids[0])
		}
	}
	if ours <= theirs[len(theirs)-1] || st.LastTransaction() != ours {
		t.Fatalf("our commit %s, last transaction %s, after %s", ours, st.LastTransaction(), theirs[len(theirs)-1])
	}

	// The upstream restarts: the storage reconnects and asks the server
	// to drop its clients, and serves the data again.
	u.stop()
	u.start()
	waitUntil(t, "DropClients after the reconnect", func() bool { _, d := rel.snapshot(); return d == 1 })
	if data, _, _, ok, err := st.LoadBefore(mine, tid.Max); err != nil || !ok || string(data) != "ours" {
		t.Fatalf("load after the reconnect: %q %v %v", data, ok, err)
	}
}

func TestBlobs(t *testing.T) {
	u := startUpstream(t)
	dir := filepath.Join(t.TempDir(), "blobs")
	st := open(t, u, dir)
	bs, ok := st.(storage.BlobStorage)
	if !ok || st.Info().Interfaces[0].Name != "IBlobStorage" {
		t.Fatalf("with blob-dir the storage is not an IBlobStorage: %T %v", st, st.Info().Interfaces)
	}
	if b, err := os.ReadFile(filepath.Join(dir, ".layout")); err != nil || string(b) != "zeocache" {
		t.Fatalf(".layout = %q, %v", b, err)
	}
	oid, err := st.NewOID()
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 20000)
	up := filepath.Join(bs.TemporaryDirectory(), "upload")
	if err := os.WriteFile(up, content, 0o600); err != nil {
		t.Fatal(err)
	}
	tx, err := st.Begin(storage.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.(storage.BlobTransaction).StoreBlob(oid, 0, []byte("rec"), up); err != nil {
		t.Fatal(err)
	}
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	p, err := bs.LoadBlob(oid, n)
	want := filepath.Join(dir, strconv.FormatUint(uint64(oid)%997, 10), tid.HexRepr(uint64(oid))+"-"+n.Repr()+".blob")
	if err != nil || p != want {
		t.Fatalf("LoadBlob = %q, %v; want the committed upload at %q", p, err, want)
	}
	// Another fan-out storage with an empty blob directory fetches it
	// from the upstream.
	st2 := open(t, u, filepath.Join(t.TempDir(), "blobs2"))
	p2, err := st2.(storage.BlobStorage).LoadBlob(oid, n)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(p2); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("fetched blob: %d bytes, %v; want %d", len(got), err, len(content))
	}
	var pk *storage.POSKeyError
	if _, err := st2.(storage.BlobStorage).LoadBlob(oid, n+1); !errors.As(err, &pk) {
		t.Fatalf("a missing blob revision: %v, want POSKeyError", err)
	}
}
