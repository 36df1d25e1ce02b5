package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/cache"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// freeAddr is a loopback address nothing listens on yet (restarts reuse it).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// serve runs an in-process ZEO server for the Data.fs at path on addr and
// returns its stop function (also run at cleanup).
func serve(t *testing.T, path, addr string, opts server.Options) func() {
	t.Helper()
	st, err := fsstorage.Open(path, filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	for range 100 {
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	var stopped atomic.Bool
	stop := func() {
		if stopped.CompareAndSwap(false, true) {
			srv.Close()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

func plainCommit(t *testing.T, addr string, data map[storage.OID]string, serials map[storage.OID]tid.TID) tid.TID {
	t.Helper()
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tx, err := c.Begin("bob", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for oid, d := range data {
		if err := tx.Store(oid, serials[oid], []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		t.Fatalf("vote: %v %v", cf, err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func cachedCommit(t *testing.T, s *client.CachedStorage, data map[storage.OID]string, serials map[storage.OID]tid.TID) tid.TID {
	t.Helper()
	tx, err := s.Begin("alice", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for oid, d := range data {
		if err := tx.Store(oid, serials[oid], []byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		tx.Abort()
		t.Fatalf("vote: %v %v", cf, err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func open(t *testing.T, addr string, copts client.CacheOptions, inv chan<- tid.TID) *client.CachedStorage {
	t.Helper()
	if copts.Trace == cache.TraceFromEnvironment {
		copts.Trace = cache.TraceOff
	}
	if copts.RetryDelay == 0 {
		copts.RetryDelay = 50 * time.Millisecond
	}
	opts := client.Options{Timeout: 5 * time.Second}
	if inv != nil {
		opts.OnInvalidate = func(x tid.TID, _ []storage.OID) { inv <- x }
	}
	s, err := client.OpenCachedStorage(context.Background(), []string{addr}, opts, copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func wantLoad(t *testing.T, s *client.CachedStorage, oid storage.OID, data string, serial tid.TID) {
	t.Helper()
	d, st, err := s.Load(oid)
	if err != nil || string(d) != data || st != serial {
		t.Fatalf("load %s = %q %s %v, want %q %s", oid, d, st, err, data, serial)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A named client's cache survives a restart: the reopened client serves
// what it had from the file, learns through getInvalidations what another
// client committed while it was away, keeps up with live invalidations,
// serves cached data while the server is down (and refuses the rest with
// ErrDisconnected), revalidates when the server is back, and leaves a file
// pkg/zeo/cache opens with the same contents.
func TestPersistentCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	stop := serve(t, path, addr, server.Options{})
	copts := client.CacheOptions{Client: "alice", Dir: dir, Size: 1 << 20}

	a := open(t, addr, copts, nil)
	t1 := cachedCommit(t, a, map[storage.OID]string{1: "a1", 2: "b1", 3: "c1"}, nil)
	if n := a.Cache().Len(); n != 3 {
		t.Fatalf("after commit the cache holds %d records, want 3", n)
	}
	if a.LastTransaction() != t1 {
		t.Fatalf("cache last tid %s, want %s", a.LastTransaction(), t1)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	name := cache.Name(dir, "alice", "1")
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("persistent cache file: %v", err)
	}

	// Another client changes oid 2 while alice is away.
	t2 := plainCommit(t, addr, map[storage.OID]string{2: "b2"}, map[storage.OID]tid.TID{2: t1})

	inv := make(chan tid.TID, 10)
	a = open(t, addr, copts, inv)
	if a.LastTransaction() != t2 {
		t.Fatalf("verified cache at %s, want server's %s", a.LastTransaction(), t2)
	}
	if n := a.Cache().Len(); n != 2 {
		t.Fatalf("after verification the cache holds %d records, want 2 (oid 2 invalidated)", n)
	}
	wantLoad(t, a, 1, "a1", t1)
	wantLoad(t, a, 3, "c1", t1)
	if st := a.Cache().Stats(); st.Accesses != 2 || st.Adds != 0 {
		t.Fatalf("loads of unchanged objects: stats %+v, want 2 hits and no adds", st)
	}
	wantLoad(t, a, 2, "b2", t2) // the stale revision was dropped: from the server
	if st := a.Cache().Stats(); st.Adds != 1 {
		t.Fatalf("load of the changed object: %d adds, want 1", st.Adds)
	}

	// A live invalidation.
	t3 := plainCommit(t, addr, map[storage.OID]string{3: "c2"}, map[storage.OID]tid.TID{3: t1})
	select {
	case got := <-inv:
		if got != t3 {
			t.Fatalf("invalidation for %s, want %s", got, t3)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no invalidation")
	}
	if a.LastTransaction() != t3 {
		t.Fatalf("cache last tid %s after invalidation, want %s", a.LastTransaction(), t3)
	}
	wantLoad(t, a, 3, "c2", t3)

	// The server goes away: cached data is still served.
	stop()
	waitFor(t, "disconnect", func() bool { return !a.Connected() })
	wantLoad(t, a, 1, "a1", t1)
	wantLoad(t, a, 2, "b2", t2)
	wantLoad(t, a, 3, "c2", t3)
	d, st, end, ok, err := a.LoadBefore(3, t3) // the revision the invalidation kept
	if err != nil || !ok || string(d) != "c1" || st != t1 || end != t3 {
		t.Fatalf("offline loadBefore(3, t3) = %q %s %s %v %v", d, st, end, ok, err)
	}
	if _, _, err := a.Load(7); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("offline load of an uncached object: %v, want ErrDisconnected", err)
	}
	if _, err := a.Begin("alice", "", nil); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("offline begin: %v, want ErrDisconnected", err)
	}
	if _, err := a.NewOIDs(1); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("offline new_oids: %v, want ErrDisconnected", err)
	}

	// Back again; something changed meanwhile.
	serve(t, path, addr, server.Options{})
	t4 := plainCommit(t, addr, map[storage.OID]string{1: "a2"}, map[storage.OID]tid.TID{1: t1})
	waitFor(t, "reconnect", func() bool { return a.Connected() && a.LastTransaction() == t4 })
	wantLoad(t, a, 1, "a2", t4)
	wantLoad(t, a, 2, "b2", t2)
	t5 := cachedCommit(t, a, map[storage.OID]string{2: "b3"}, map[storage.OID]tid.TID{2: t2})
	wantLoad(t, a, 2, "b3", t5)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	// The file is a valid cache for pkg/zeo/cache (and so for Python ZEO).
	c, err := cache.Open(name, cache.Options{Size: 1 << 20, Trace: cache.TraceOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.LastTid() != uint64(t5) {
		t.Fatalf("file's last tid %x, want %x", c.LastTid(), uint64(t5))
	}
	want := map[uint64]uint64{1: uint64(t4), 2: uint64(t5), 3: uint64(t3)}
	got := map[uint64]uint64{}
	c.Contents(func(oid, start uint64) bool { got[oid] = start; return true })
	if len(got) != len(want) {
		t.Fatalf("file holds current %v, want %v", got, want)
	}
	for oid, start := range want {
		if got[oid] != start {
			t.Fatalf("file holds current %v, want %v", got, want)
		}
	}
	c.Close()

	// And Python ZEO's ClientCache reads the same, when it is available.
	py, env := pythonZEO(t)
	cmd := exec.Command(py, "-c", pyReadCache, name)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	wantOut := fmt.Sprintf("%d\n1 a2 %d\n2 b3 %d\n3 c2 %d\n", uint64(t5), uint64(t4), uint64(t5), uint64(t3))
	if string(out) != wantOut {
		t.Fatalf("python ZEO reads\n%s\nwant\n%s", out, wantOut)
	}
}

const pyReadCache = `
import sys, ZEO.cache
from ZODB.utils import p64, u64
c = ZEO.cache.ClientCache(sys.argv[1], 1 << 20)
print(u64(c.getLastTid()))
for oid in (1, 2, 3):
    data, tid = c.load(p64(oid))
    print(oid, data.decode(), u64(tid))
c.close()
`

// pythonZEO finds an interpreter that can import ZEO.cache
// (ZDKIT_PYTHON, ZDKIT_PYZEO_PATH as for pkg/zeo/interop), or skips.
func pythonZEO(t *testing.T) (string, []string) {
	t.Helper()
	env := os.Environ()
	if p := os.Getenv("ZDKIT_PYZEO_PATH"); p != "" {
		env = append(env, "PYTHONPATH="+p)
	}
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("ZDKIT_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, py := range cands {
		cmd := exec.Command(py, "-c", "import ZEO.cache, ZODB.utils")
		cmd.Env = env
		if cmd.Run() == nil {
			return py, env
		}
	}
	t.Skip("no Python with ZEO.cache (set ZDKIT_PYTHON and ZDKIT_PYZEO_PATH)")
	return "", nil
}

// When the server cannot say what changed (its invalidation queue does
// not reach back to the cache's tid), the cache is cleared (ZEO's
// StaleCache).  A client started with NoWait while the server is down
// serves its cache and connects when the server comes up.
func TestStaleCacheAndNoWait(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	sopts := server.Options{InvalidationQueueSize: 1}
	stop := serve(t, path, addr, sopts)
	copts := client.CacheOptions{Client: "c", Dir: dir, Size: 1 << 20}

	a := open(t, addr, copts, nil)
	t1 := cachedCommit(t, a, map[storage.OID]string{1: "x1", 2: "y1"}, nil)
	a.Close()

	// Started while the server is down: the cache answers.
	stop()
	copts.NoWait = true
	a = open(t, addr, copts, nil)
	if a.Connected() {
		t.Fatal("connected without a server")
	}
	wantLoad(t, a, 1, "x1", t1)
	if _, _, err := a.Load(5); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("offline miss: %v", err)
	}
	a.Close()

	// Two transactions while away: the queue of one cannot cover them.
	serve(t, path, addr, sopts)
	plainCommit(t, addr, map[storage.OID]string{1: "x2"}, map[storage.OID]tid.TID{1: t1})
	t3 := plainCommit(t, addr, map[storage.OID]string{3: "z1"}, nil)
	var staleEvents atomic.Int32
	copts.NoWait = false
	copts.OnStaleCache = func() { staleEvents.Add(1) }
	a = open(t, addr, copts, nil)
	if n := staleEvents.Load(); n != 1 {
		t.Fatalf("%d StaleCache events, want 1", n)
	}
	if n := a.Cache().Len(); n != 0 {
		t.Fatalf("stale cache holds %d records, want 0", n)
	}
	if a.LastTransaction() != t3 {
		t.Fatalf("cache tid %s, want %s", a.LastTransaction(), t3)
	}
	d, _, err := a.Load(1)
	if err != nil || string(d) != "x2" {
		t.Fatalf("load after clear: %q %v", d, err)
	}
}

// Without a client name the cache is a temporary file: it still caches.
func TestTemporaryCache(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	serve(t, filepath.Join(dir, "Data.fs"), addr, server.Options{})
	tmp := t.TempDir()
	a := open(t, addr, client.CacheOptions{Dir: tmp, Size: 1 << 16}, nil)
	if a.Cache().Path() != "" {
		t.Fatalf("temporary cache has a path %q", a.Cache().Path())
	}
	t1 := plainCommit(t, addr, map[storage.OID]string{1: "v"}, nil)
	waitFor(t, "invalidation", func() bool { return a.LastTransaction() == t1 })
	wantLoad(t, a, 1, "v", t1)
	wantLoad(t, a, 1, "v", t1)
	if st := a.Cache().Stats(); st.Adds != 1 || st.Accesses != 1 {
		t.Fatalf("stats %+v, want 1 add and 1 hit", st)
	}
	ents, err := os.ReadDir(tmp)
	if err != nil || len(ents) != 0 {
		t.Fatalf("temporary cache left names in its directory: %v %v", ents, err)
	}
}

// Loads racing with another client's commits never leave a stale
// revision in the cache: afterwards every current and every older
// revision read through the cache is the server's (the reply/invalidation
// race ZEO 4 guards with _load_status).
func TestCacheLoadsRacingCommits(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	serve(t, filepath.Join(dir, "Data.fs"), addr, server.Options{})
	a := open(t, addr, client.CacheOptions{Client: "race", Dir: dir, Size: 1 << 20}, nil)

	const nOIDs, nCommits = 4, 60
	type rev struct {
		tid  tid.TID
		data string
	}
	history := map[storage.OID][]rev{}
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for range 3 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				oid := storage.OID(1 + i%nOIDs)
				if _, _, err := a.Load(oid); err != nil && !client.IsClass(err, "POSKeyError") {
					errc <- err
					return
				}
			}
		}()
	}
	serials := map[storage.OID]tid.TID{}
	var last tid.TID
	for i := range nCommits {
		oid := storage.OID(1 + i%nOIDs)
		data := "v" + string(rune('a'+i%26)) + string(rune('0'+i%10))
		last = plainCommit(t, addr, map[storage.OID]string{oid: data}, serials)
		serials[oid] = last
		history[oid] = append(history[oid], rev{last, data})
	}
	close(stop)
	for range 3 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "last invalidation", func() bool { return a.LastTransaction() == last })
	for oid, revs := range history {
		cur := revs[len(revs)-1]
		wantLoad(t, a, oid, cur.data, cur.tid)
		for k := 0; k+1 < len(revs); k++ {
			d, st, end, ok, err := a.LoadBefore(oid, revs[k+1].tid)
			if err != nil || !ok || string(d) != revs[k].data || st != revs[k].tid || end != revs[k+1].tid {
				t.Fatalf("loadBefore(%s, %s) = %q %s %s %v %v, want %q %s %s", oid, revs[k+1].tid,
					d, st, end, ok, err, revs[k].data, revs[k].tid, revs[k+1].tid)
			}
		}
	}
}

// A cache that has seen transactions the server does not have (the
// server was restored from an older backup) is refused, as ZEO refuses
// the connection with "Client has seen newer transactions than server!".
func TestCacheAheadOfServer(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	stop := serve(t, filepath.Join(dir, "Data.fs"), addr, server.Options{})
	copts := client.CacheOptions{Client: "ahead", Dir: dir, Size: 1 << 20, Trace: cache.TraceOff}
	a := open(t, addr, copts, nil)
	cachedCommit(t, a, map[storage.OID]string{1: "x"}, nil)
	a.Close()
	stop()

	serve(t, filepath.Join(dir, "Other.fs"), addr, server.Options{}) // an empty database
	_, err := client.OpenCachedStorage(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second}, copts)
	if !errors.Is(err, client.ErrCacheOutOfSync) || !errors.Is(err, cache.ErrCacheAhead) {
		t.Fatalf("open against an older server: %v, want ErrCacheOutOfSync", err)
	}
	// The failed open released the cache file.
	c, err := cache.Open(cache.Name(dir, "ahead", "1"), cache.Options{Size: 1 << 20, Trace: cache.TraceOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Len() != 1 {
		t.Fatalf("refused cache holds %d records, want 1 (kept)", c.Len())
	}
}

// The trace of two client runs has the records ZEO 5/6 write (ZEO 6.0
// ClientStorage and ClientCache._trace): a restart record per open, invalidate+store per committed
// object, the verification's discard, a miss as 0x20 then 0x24, the
// store of the loaded revision, then a hit.
func TestCacheTrace(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	serve(t, filepath.Join(dir, "Data.fs"), addr, server.Options{})
	copts := client.CacheOptions{Client: "tr", Dir: dir, Size: 1 << 20, Trace: cache.TraceOn}
	a := open(t, addr, copts, nil)
	t1 := cachedCommit(t, a, map[storage.OID]string{1: "one"}, nil)
	a.Close()
	t2 := plainCommit(t, addr, map[storage.OID]string{1: "two"}, map[storage.OID]tid.TID{1: t1})
	a = open(t, addr, copts, nil)
	wantLoad(t, a, 1, "two", t2)
	wantLoad(t, a, 1, "two", t2)
	a.Close()

	f, err := os.Open(cache.Name(dir, "tr", "1") + ".trace")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cachetrace.NewReader(f)
	var got []byte
	var rec cachetrace.Record
	for {
		if err := r.Next(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		got = append(got, rec.Code&0x7e)
	}
	want := []byte{0x00, 0x10, 0x52, 0x00, 0x1e, 0x20, 0x24, 0x52, 0x22}
	if string(got) != string(want) {
		t.Fatalf("trace codes % x, want % x", got, want)
	}
}

// Loads answered by the cache versus the same loads from the server.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	st, err := fsstorage.Open(filepath.Join(dir, "Data.fs"), filestorage.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	go srv.Serve(l)
	defer srv.Close()
	s, err := client.OpenCachedStorage(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second},
		client.CacheOptions{Client: "bench", Dir: dir, Size: 1 << 24, Trace: cache.TraceOff})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tx, err := s.Begin("", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 200)
	for oid := storage.OID(1); oid <= 100; oid++ {
		tx.Store(oid, 0, data)
	}
	if _, _, err := tx.Vote(); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Finish(); err != nil {
		b.Fatal(err)
	}
	b.Run("cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := s.Load(storage.OID(1 + i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
	c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.Run("server", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := c.Load(storage.OID(1 + i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
