package stress

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// nextCommitter commits one object from a fresh client and fails the test
// if that does not finish within 10 s (the commit lock was leaked). It
// returns the object and its tid.
func nextCommitter(t *testing.T, addr, label string) (storage.OID, tid.TID) {
	t.Helper()
	c := dial(t, addr, client.Options{})
	defer c.Close()
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		tid tid.TID
		err error
	}
	ch := make(chan res, 1)
	rec := record(t, label)
	go func() {
		tt, err := commit(c, oids, []tid.TID{0}, [][]byte{rec})
		ch <- res{tt, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: next committer failed: %v", label, r.err)
		}
		data, serial, err := c.Load(oids[0])
		if err != nil || serial != r.tid || string(data) != string(record(t, label)) {
			t.Fatalf("%s: next committer's object reads %q at %s (%v), want its data at %s", label, data, serial, err, r.tid)
		}
		return oids[0], r.tid
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the next committer is still waiting after 10 s: the commit lock was not released", label)
	}
	panic("unreachable")
}

// absent checks that nothing of an abandoned transaction is visible.
func absent(t *testing.T, addr string, oid storage.OID, label string) {
	t.Helper()
	c := dial(t, addr, client.Options{})
	defer c.Close()
	data, serial, err := c.Load(oid)
	if !client.IsClass(err, "POSKeyError") {
		t.Errorf("%s: the abandoned transaction's object reads %q at %s (err %v), want POSKeyError", label, data, serial, err)
	}
}

// victimTxn opens a client, takes a new oid and begins a transaction.
func victimTxn(t *testing.T, addr string) (*client.Client, *client.Txn, storage.OID) {
	t.Helper()
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Begin("victim", "abandoned", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, tx, oids[0]
}

// TestClientVanishesInEveryCommitPhase: a client disappears after
// tpc_begin, after its stores, after vote (holding the commit lock),
// while waiting for the lock, in the middle of a frame while holding the
// lock, and right after sending tpc_finish. Each time the next committer
// must proceed, and the abandoned transaction must be invisible (or,
// for tpc_finish, complete).
func TestClientVanishesInEveryCommitPhase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", ""))

	t.Run("after tpc_begin", func(t *testing.T) {
		c, _, oid := victimTxn(t, addr)
		c.Close()
		nextCommitter(t, addr, "after tpc_begin")
		absent(t, addr, oid, "after tpc_begin")
	})
	t.Run("after stores", func(t *testing.T) {
		c, tx, oid := victimTxn(t, addr)
		if err := tx.Store(oid, 0, record(t, "victim")); err != nil {
			t.Fatal(err)
		}
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		nextCommitter(t, addr, "after stores")
		absent(t, addr, oid, "after stores")
	})
	t.Run("after vote", func(t *testing.T) {
		c, tx, oid := victimTxn(t, addr)
		if err := tx.Store(oid, 0, record(t, "victim")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		c.Close() // holding the commit lock
		nextCommitter(t, addr, "after vote")
		absent(t, addr, oid, "after vote")
	})
	t.Run("waiting for the lock", func(t *testing.T) {
		holder, htx, hoid := victimTxn(t, addr)
		if err := htx.Store(hoid, 0, record(t, "holder")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := htx.Vote(); err != nil {
			t.Fatal(err)
		}
		w, wtx, woid := victimTxn(t, addr)
		if err := wtx.Store(woid, 0, record(t, "waiter")); err != nil {
			t.Fatal(err)
		}
		voted := make(chan error, 1)
		go func() {
			_, _, err := wtx.Vote()
			voted <- err
		}()
		select {
		case err := <-voted:
			t.Fatalf("the waiter's vote returned (%v) while another client held the commit lock", err)
		case <-time.After(300 * time.Millisecond):
		}
		w.Close() // while queued for the lock
		<-voted
		ht, err := htx.Finish()
		if err != nil {
			t.Fatalf("lock holder's tpc_finish after the waiter vanished: %v", err)
		}
		if data, serial, err := holder.Load(hoid); err != nil || serial != ht || string(data) != string(record(t, "holder")) {
			t.Fatalf("holder's object %q at %s (%v)", data, serial, err)
		}
		nextCommitter(t, addr, "waiting for the lock")
		absent(t, addr, woid, "waiting for the lock")
	})
	t.Run("mid-frame holding the lock", func(t *testing.T) {
		c := dial(t, addr, client.Options{})
		oids, err := c.NewOIDs(1)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		r := rawDial(t, addr, true)
		if _, isErr := r.call("register", "1", false); isErr {
			t.Fatal("register refused")
		}
		txn := int64(7)
		r.send("tpc_begin", txn, []byte("victim"), []byte("mid-frame"), &wire.Dict{}, nil, " ")
		r.send("storea", oids[0].Bytes(), storage.TIDBytes(0), record(t, "victim"), txn)
		if v, isErr := r.call("vote", txn); isErr {
			t.Fatalf("vote refused: %s", wire.Repr(v))
		}
		// Announce a 1000-byte frame, send 10 bytes of it, vanish.
		r.nc.Write([]byte{0, 0, 3, 232, 0x80, 3, 'K', 1, 0x89, 'X', 0, 0, 0, 0})
		r.nc.Close()
		nextCommitter(t, addr, "mid-frame")
		absent(t, addr, oids[0], "mid-frame")
	})
	t.Run("right after tpc_finish was sent", func(t *testing.T) {
		c, tx, oid := victimTxn(t, addr)
		oids, err := c.NewOIDs(1)
		if err != nil {
			t.Fatal(err)
		}
		both := []storage.OID{oid, oids[0]}
		for _, o := range both {
			if err := tx.Store(o, 0, record(t, "finish")); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		go tx.Finish()
		time.Sleep(time.Millisecond)
		c.Close()
		nextCommitter(t, addr, "after tpc_finish")
		// The transaction is either complete or absent, never half there.
		r := dial(t, addr, client.Options{})
		_, s1, err1 := r.Load(both[0])
		_, s2, err2 := r.Load(both[1])
		if (err1 == nil) != (err2 == nil) || s1 != s2 {
			t.Fatalf("transaction half there after its client vanished at tpc_finish: %s (%v), %s (%v)", s1, err1, s2, err2)
		}
	})
	p.stop()
	fstest(t, path)
	if t.Failed() {
		t.Logf("server output:\n%s", p.out.String())
	}
}

// TestSilentLockHolderTimedOut: a client that votes and then says nothing
// (its connection stays open) holds the lock until transaction-timeout,
// after which the next committer proceeds and the silent transaction is
// gone (ZEO 5.4-6.0 leaked the lock here; docs/zeo.md difference 3).
func TestSilentLockHolderTimedOut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "  transaction-timeout 1", ""))
	c, tx, oid := victimTxn(t, addr)
	if err := tx.Store(oid, 0, record(t, "silent")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nextCommitter(t, addr, "silent holder")
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("next committer finished after %v, before the 1 s transaction timeout: was the lock held at all?", d)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Error("the timed-out client's connection is still open")
	}
	absent(t, addr, oid, "silent holder")
	p.stop()
	fstest(t, path)
}
