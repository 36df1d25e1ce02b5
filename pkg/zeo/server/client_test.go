package server

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	opts.Timeout = 5 * time.Second
	c, err := client.Dial(context.Background(), []string{addr}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newMapping(t *testing.T, opts Options) (string, *mappingstorage.Storage) {
	ms := mappingstorage.New("", false)
	return startServer(t, map[string]storage.Storage{"1": ms}, opts), ms
}

// commit stores objects (oid -> data, based on serials) in one transaction.
func commit(t *testing.T, c *client.Client, serials map[storage.OID]tid.TID, data map[storage.OID][]byte) tid.TID {
	t.Helper()
	tx, err := c.Begin("tester", "test commit", wire.NewDict("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	for oid, d := range data {
		if err := tx.Store(oid, serials[oid], d); err != nil {
			t.Fatal(err)
		}
	}
	conflicts, _, err := tx.Vote()
	if err != nil || len(conflicts) != 0 {
		t.Fatalf("vote: %v, conflicts %v", err, conflicts)
	}
	ntid, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return ntid
}

// A new storage stays empty: no root object until a client creates it,
// and loading oid 0 raises POSKeyError (what ZODB.DB relies on).
func TestEmptyStorage(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	if c.LastTID != 0 {
		t.Errorf("register returned %v on an empty storage", c.LastTID)
	}
	_, _, err := c.Load(0)
	if !client.IsClass(err, "ZODB.POSException.POSKeyError") {
		t.Errorf("load root: %v, want POSKeyError", err)
	}
	info, err := c.Call("get_info")
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := info.(*wire.Dict).Get("length"); l != int64(0) {
		t.Errorf("length %v", l)
	}
}

func TestCommitLoadAndInvalidate(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	type inval struct {
		tid  tid.TID
		oids []storage.OID
	}
	invA := make(chan inval, 10)
	invB := make(chan inval, 10)
	a := dial(t, addr, client.Options{OnInvalidate: func(t tid.TID, o []storage.OID) { invA <- inval{t, o} }})
	b := dial(t, addr, client.Options{OnInvalidate: func(t tid.TID, o []storage.OID) { invB <- inval{t, o} }})
	// oid 0 is the root's: ZODB 6.3's MappingStorage.new_oid starts at 1
	// (ZODB's PackableStorage tests store a new object and the root).
	oids, err := a.NewOIDs(3)
	if err != nil || len(oids) != 3 || oids[0] != 1 || oids[2] != 3 {
		t.Fatalf("new_oids: %v %v", oids, err)
	}
	t1 := commit(t, a, nil, map[storage.OID][]byte{0: []byte("root v1")})
	select {
	case iv := <-invB:
		if iv.tid != t1 || len(iv.oids) != 1 || iv.oids[0] != 0 {
			t.Errorf("B got invalidation %v %v, want %v [0]", iv.tid, iv.oids, t1)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no invalidation for B")
	}
	t2 := commit(t, a, map[storage.OID]tid.TID{0: t1}, map[storage.OID][]byte{0: []byte("root v2")})
	if t2 <= t1 {
		t.Errorf("tids not increasing: %v then %v", t1, t2)
	}
	// B's second invalidation, in tid order.
	if iv := <-invB; iv.tid != t2 {
		t.Errorf("second invalidation tid %v, want %v", iv.tid, t2)
	}
	data, start, err := b.Load(0)
	if err != nil || string(data) != "root v2" || start != t2 {
		t.Errorf("B load: %q %v %v", data, start, err)
	}
	data, start, end, ok, err := b.LoadBefore(0, t2)
	if err != nil || !ok || string(data) != "root v1" || start != t1 || end != t2 {
		t.Errorf("loadBefore(t2) = %q %v %v %v %v", data, start, end, ok, err)
	}
	_, _, _, ok, err = b.LoadBefore(0, t1)
	if err != nil || ok {
		t.Errorf("loadBefore(t1) = ok %v err %v, want None", ok, err)
	}
	select {
	case iv := <-invA:
		t.Errorf("the committer got an invalidation for its own commit: %v", iv)
	default:
	}
	// loadSerial, history
	v, err := b.Call("loadSerial", storage.OID(0).Bytes(), storage.TIDBytes(t1))
	if err != nil || string(v.([]byte)) != "root v1" {
		t.Errorf("loadSerial: %v %v", v, err)
	}
	h, err := b.Call("history", storage.OID(0).Bytes(), int64(5))
	if err != nil {
		t.Fatal(err)
	}
	hl := h.(wire.List)
	if len(hl) != 2 {
		t.Fatalf("history has %d entries", len(hl))
	}
	d := hl[0].(*wire.Dict)
	if tb, _ := d.Get("tid"); !wire.Equal(tb, storage.TIDBytes(t2)) {
		t.Errorf("history[0].tid = %v", tb)
	}
	if u, _ := d.Get("user_name"); !wire.Equal(u, []byte("tester")) {
		t.Errorf("history user_name %v", u)
	}
	if k, _ := d.Get("k"); k != "v" {
		t.Errorf("history extension key k = %v", k)
	}
	// getInvalidations from t1: (t2, [oid 0]); from t2: (t2, []).
	gi, err := b.Call("getInvalidations", storage.TIDBytes(t1))
	if err != nil || !wire.Equal(gi, wire.Tuple{storage.TIDBytes(t2), wire.List{storage.OID(0).Bytes()}}) {
		t.Errorf("getInvalidations(t1) = %s %v", wire.Repr(gi), err)
	}
	// Older than the oldest queued tid: None, as stock ZEO (the client
	// then drops its cache).
	gi, err = b.Call("getInvalidations", storage.TIDBytes(0))
	if err != nil || gi != nil {
		t.Errorf("getInvalidations(z64) = %s %v, want None", wire.Repr(gi), err)
	}
}

func TestInvalidationQueueTooOld(t *testing.T) {
	addr, _ := newMapping(t, Options{InvalidationQueueSize: 2})
	a := dial(t, addr, client.Options{})
	var last tid.TID
	var tids []tid.TID
	for i := 0; i < 4; i++ {
		last = commit(t, a, map[storage.OID]tid.TID{1: last}, map[storage.OID][]byte{1: []byte{byte(i)}})
		tids = append(tids, last)
	}
	v, err := a.Call("getInvalidations", storage.TIDBytes(tids[0]))
	if err != nil || v != nil {
		t.Errorf("getInvalidations beyond the queue = %s %v, want None", wire.Repr(v), err)
	}
	v, err = a.Call("getInvalidations", storage.TIDBytes(tids[2]))
	if err != nil || !wire.Equal(v, wire.Tuple{storage.TIDBytes(tids[3]), wire.List{storage.OID(1).Bytes()}}) {
		t.Errorf("getInvalidations in the queue = %s %v", wire.Repr(v), err)
	}
}

// Conflicts come back as dicts; the lock stays held while the client
// resolves, so a third committer waits and the re-vote succeeds.
func TestConflictDictsKeepLock(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{})
	c := dial(t, addr, client.Options{})
	t0 := commit(t, a, nil, map[storage.OID][]byte{1: []byte("v0")})
	t1 := commit(t, a, map[storage.OID]tid.TID{1: t0}, map[storage.OID][]byte{1: []byte("v1-a")})

	tx, err := b.Begin("b", "stale", nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Store(1, t0, []byte("v1-b"))
	conflicts, _, err := tx.Vote()
	if err != nil || len(conflicts) != 1 {
		t.Fatalf("vote: %v %v", conflicts, err)
	}
	cf := conflicts[0]
	if cf.OID != 1 || cf.Committed != t1 || cf.Read != t0 || string(cf.Data) != "v1-b" {
		t.Errorf("conflict dict %+v", cf)
	}
	// C tries to commit on oid 2 meanwhile: it must wait for B's lock.
	cDone := make(chan error, 1)
	go func() {
		tx, err := c.Begin("c", "other", nil)
		if err == nil {
			tx.Store(2, 0, []byte("c"))
			_, _, err = tx.Vote()
			if err == nil {
				_, err = tx.Finish()
			}
		}
		cDone <- err
	}()
	waitFor(t, func() bool { return status(t, b, "waiting") == int64(1) })
	select {
	case err := <-cDone:
		t.Fatalf("C committed while B was resolving: %v", err)
	default:
	}
	// B "resolves": stores against the committed serial and votes again.
	tx.Store(1, cf.Committed, []byte("v1-resolved"))
	conflicts, _, err = tx.Vote()
	if err != nil || len(conflicts) != 0 {
		t.Fatalf("re-vote: %v %v", conflicts, err)
	}
	t2, err := tx.Finish()
	if err != nil || t2 <= t1 {
		t.Fatalf("finish: %v %v", t2, err)
	}
	if err := <-cDone; err != nil {
		t.Fatalf("C: %v", err)
	}
	data, _, err := a.Load(1)
	if err != nil || string(data) != "v1-resolved" {
		t.Errorf("after resolution: %q %v", data, err)
	}
	if n := status(t, a, "conflicts"); n != int64(1) {
		t.Errorf("conflicts = %v", n)
	}
}

func status(t *testing.T, c *client.Client, key string) any {
	t.Helper()
	v, err := c.Call("server_status")
	if err != nil {
		t.Fatal(err)
	}
	x, _ := v.(*wire.Dict).Get(key)
	return x
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadConflictAndPOSKey(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	a := dial(t, addr, client.Options{})
	t0 := commit(t, a, nil, map[storage.OID][]byte{1: []byte("x"), 2: []byte("y")})
	t1 := commit(t, a, map[storage.OID]tid.TID{2: t0}, map[storage.OID][]byte{2: []byte("y2")})
	tx, _ := a.Begin("", "", nil)
	tx.Store(1, t0, []byte("x2"))
	tx.CheckCurrent(2, t0)
	_, _, err := tx.Vote()
	var se *client.ServerError
	if !errors.As(err, &se) || se.Class != ClassReadConflictError {
		t.Fatalf("vote: %v, want ReadConflictError", err)
	}
	info, ok := se.Info.(*wire.Dict)
	if !ok {
		t.Fatalf("ReadConflictError info %s is not the dict form", wire.Repr(se.Info))
	}
	if m, _ := info.Get("message"); m != "database read conflict error" {
		t.Errorf("message %v", m)
	}
	if s, _ := info.Get("serials"); !wire.Equal(s, wire.Tuple{storage.TIDBytes(t1), storage.TIDBytes(t0)}) {
		t.Errorf("serials %s", wire.Repr(s))
	}
	// The failed vote aborted the transaction and released the lock; the
	// client's tpc_abort is a no-op and the next commit goes through.
	if err := tx.Abort(); err != nil {
		t.Errorf("abort after failed vote: %v", err)
	}
	commit(t, a, map[storage.OID]tid.TID{1: t0}, map[storage.OID][]byte{1: []byte("x3")})
	// deleteObject of a missing oid: POSKeyError from vote.
	tx, _ = a.Begin("", "", nil)
	tx.Delete(99, t0)
	if _, _, err := tx.Vote(); !client.IsClass(err, "POSKeyError") {
		t.Errorf("delete missing: %v", err)
	}
}

// A transaction timeout aborts, releases the lock and closes the
// connection; the next committer is not blocked (fixes ZEO 5.4-6.0).
func TestTransactionTimeout(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	addr, _ := newMapping(t, Options{TransactionTimeout: 200 * time.Millisecond, Log: func(l Level, name, msg string) {
		mu.Lock()
		logs = append(logs, msg)
		mu.Unlock()
	}})
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{})
	tx, _ := a.Begin("", "", nil)
	tx.Store(1, 0, []byte("a"))
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("timed-out connection not closed")
	}
	if _, err := tx.Finish(); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("finish after timeout: %v", err)
	}
	commit(t, b, nil, map[storage.OID][]byte{1: []byte("b")})
	if v := status(t, b, "active_txns"); v != int64(0) {
		t.Errorf("active_txns = %v", v)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, l := range logs {
		if contains(l, "Transaction timeout after 0.2 seconds") {
			found = true
		}
	}
	if !found {
		t.Errorf("no timeout log line in %q", logs)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// A client that disconnects while holding the lock, or while queued,
// releases it.
func TestDisconnectMidCommit(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	a := dial(t, addr, client.Options{})
	b := dial(t, addr, client.Options{})
	q := dial(t, addr, client.Options{})
	c := dial(t, addr, client.Options{})
	tx, _ := a.Begin("", "", nil)
	tx.Store(1, 0, []byte("a"))
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	// q queues behind a, then goes away too.
	go func() {
		tq, _ := q.Begin("", "", nil)
		tq.Store(3, 0, []byte("q"))
		tq.Vote()
	}()
	waitFor(t, func() bool { return status(t, c, "waiting") == int64(1) })
	q.Close()
	waitFor(t, func() bool { return status(t, c, "waiting") == int64(0) })
	a.Close()
	waitFor(t, func() bool { return status(t, c, "connections") == int64(2) })
	commit(t, b, nil, map[storage.OID][]byte{1: []byte("b")})
	data, _, err := c.Load(1)
	if err != nil || string(data) != "b" {
		t.Errorf("load: %q %v", data, err)
	}
	if _, _, err := c.Load(3); !client.IsClass(err, "POSKeyError") {
		t.Errorf("queued-then-gone store became visible: %v", err)
	}
}

func TestReadOnly(t *testing.T) {
	addr, _ := newMapping(t, Options{ReadOnly: true})
	_, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 5 * time.Second})
	if !client.IsClass(err, "ReadOnlyError") {
		t.Errorf("rw register on read-only server: %v", err)
	}
	c := dial(t, addr, client.Options{ReadOnlyFallback: true})
	if !c.ReadOnly {
		t.Errorf("fallback did not register read-only")
	}
	if _, err := c.NewOIDs(1); !client.IsClass(err, "ReadOnlyError") {
		t.Errorf("new_oids: %v", err)
	}
	// pack is allowed read-only (zeopack registers read-only).
	if _, err := c.Call("pack", float64(time.Now().Unix()), true); err != nil {
		t.Errorf("pack on read-only connection: %v", err)
	}
	// One-way tpc_begin on a read-only connection closes it.
	c.Begin("", "", nil)
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Error("connection not closed after read-only tpc_begin")
	}
}

// The server decodes with the client's letter: a msgpack client works on a
// Z5 server, over a Unix socket.
func TestUnixSocketMsgpackClient(t *testing.T) {
	ms := mappingstorage.New("", false)
	srv, err := New(map[string]storage.Storage{"main": ms}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "zeo.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := dial(t, path, client.Options{Storage: "main", Encoding: wire.Msgpack})
	if c.Encoding() != wire.Msgpack {
		t.Fatalf("encoding %v", c.Encoding())
	}
	t1 := commit(t, c, nil, map[storage.OID][]byte{0: []byte("root")})
	data, start, err := c.Load(0)
	if err != nil || string(data) != "root" || start != t1 {
		t.Errorf("load: %q %v %v", data, start, err)
	}
	if _, err := client.Dial(context.Background(), []string{path}, client.Options{Storage: "nope", Timeout: 5 * time.Second}); !client.IsClass(err, "ValueError") {
		t.Errorf("unknown storage: %v", err)
	}
}

func TestIteratorAndRecordIternext(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	t1 := commit(t, c, nil, map[storage.OID][]byte{0: []byte("a")})
	t2 := commit(t, c, map[storage.OID]tid.TID{0: t1}, map[storage.OID][]byte{0: []byte("b")})
	iid, err := c.Call("iterator_start", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []tid.TID
	for {
		v, err := c.Call("iterator_next", iid)
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			break
		}
		rec := v.(wire.Tuple)
		tb := rec[0].([]byte)
		got = append(got, tid.FromBytes(tb))
		rid, err := c.Call("iterator_record_start", iid, tb)
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Call("iterator_record_next", rid)
		if err != nil || r == nil || !wire.Equal(r.(wire.Tuple)[0], storage.OID(0).Bytes()) {
			t.Errorf("record: %s %v", wire.Repr(r), err)
		}
	}
	if len(got) != 2 || got[0] != t1 || got[1] != t2 {
		t.Errorf("iterated %v, want [%v %v]", got, t1, t2)
	}
	if _, err := c.Call("iterator_next", int64(77)); !client.IsClass(err, "KeyError") {
		t.Errorf("unknown iterator: %v", err)
	}
	v, err := c.Call("record_iternext", nil)
	if err != nil || !wire.Equal(v, wire.Tuple{storage.OID(0).Bytes(), storage.TIDBytes(t2), []byte("b"), nil}) {
		t.Errorf("record_iternext: %s %v", wire.Repr(v), err)
	}
	ul, err := c.Call("undoLog", int64(0), int64(-20))
	if err != nil || !wire.Equal(ul, wire.Tuple{}) {
		t.Errorf("undoLog on a storage without undo: %s %v", wire.Repr(ul), err)
	}
}

func TestRuokProbe(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	wire.WriteFrame(nc, []byte("ruok"))
	id, err := wire.ReadFrame(nc, 0)
	if err != nil || string(id) != "Z5" {
		t.Fatalf("protocol id %q %v", id, err)
	}
	js, err := wire.ReadFrame(nc, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"1": {"connections": 0, "loads": 0, "stores": 0, "commits": 0, "aborts": 0, "active_txns": 0, "lock_time": null, "conflicts": 0, "conflicts_resolved": 0, "start": "`
	if len(js) < len(want) || string(js[:len(want)]) != want {
		t.Errorf("ruok JSON %s", js)
	}
	if !contains(string(js), `"timeout-thread-is-alive": "stub", "last-transaction": "0000000000000000"}}`) {
		t.Errorf("ruok JSON tail %s", js)
	}
}

func TestBadHandshakeAndInvalidMethod(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	nc, _ := net.Dial("tcp", addr)
	defer nc.Close()
	wire.ReadFrame(nc, 0)
	wire.WriteFrame(nc, []byte("Z4"))
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := wire.ReadFrame(nc, 0); err == nil {
		t.Error("Z4 handshake accepted")
	}
	nc2, _ := net.Dial("tcp", addr)
	defer nc2.Close()
	wire.ReadFrame(nc2, 0)
	wire.WriteFrame(nc2, []byte("Z5"))
	b, _ := wire.Pickle.Encode(wire.Message{ID: int64(1), Flags: false, Method: "get_info", Args: wire.Tuple{}})
	wire.WriteFrame(nc2, b)
	nc2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := wire.ReadFrame(nc2, 0); err == nil {
		t.Error("call before register was answered")
	}
}

// invalidation-age: a tid older than the queue but young enough is
// answered from the storage instead of None.
func TestInvalidationAge(t *testing.T) {
	addr, _ := newMapping(t, Options{InvalidationQueueSize: 1, InvalidationAge: time.Hour})
	a := dial(t, addr, client.Options{})
	t1 := commit(t, a, nil, map[storage.OID][]byte{1: []byte("a")})
	t2 := commit(t, a, nil, map[storage.OID][]byte{2: []byte("b")})
	t3 := commit(t, a, map[storage.OID]tid.TID{1: t1}, map[storage.OID][]byte{1: []byte("c")})
	_ = t2
	v, err := a.Call("getInvalidations", storage.TIDBytes(t1))
	want := wire.Tuple{storage.TIDBytes(t3), wire.List{storage.OID(2).Bytes(), storage.OID(1).Bytes()}}
	if err != nil || !wire.Equal(v, want) {
		t.Errorf("getInvalidations = %s %v, want %s", wire.Repr(v), err, wire.Repr(want))
	}
}
