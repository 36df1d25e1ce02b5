package stress

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// hot is the object every abandoned transaction writes too, so that its
// lock is the one the next committer needs (the server locks per object
// since group commit, and storage-wide for undo, restore and blobs).
type hot struct {
	oid    storage.OID
	serial tid.TID
}

func newHot(t *testing.T, addr string) *hot {
	t.Helper()
	c := dial(t, addr, client.Options{})
	defer c.Close()
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := commit(c, oids, []tid.TID{0}, [][]byte{record(t, "hot 0")})
	if err != nil {
		t.Fatal(err)
	}
	return &hot{oids[0], nt}
}

// refresh reads the hot object's current serial.
func (h *hot) refresh(t *testing.T, c *client.Client) {
	t.Helper()
	_, s, err := c.Load(h.oid)
	if err != nil {
		t.Fatal(err)
	}
	h.serial = s
}

// nextCommitter commits the hot object and a new one from a fresh client
// and fails the test if that does not finish within 10 s (a lock was
// leaked). It returns the tid.
func nextCommitter(t *testing.T, addr, label string, h *hot) tid.TID {
	t.Helper()
	c := dial(t, addr, client.Options{})
	defer c.Close()
	h.refresh(t, c)
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
	both := []storage.OID{h.oid, oids[0]}
	go func() {
		// A transaction abandoned right after tpc_finish may become
		// visible after our read of the hot object: then vote answers a
		// conflict, and, like a real client, we read again and retry.
		// Under group commit it stays invisible until its batch is
		// durable, so the retry waits a little before reading again.
		serial := h.serial
		for attempt := 0; ; attempt++ {
			tt, err := commit(c, both, []tid.TID{serial, 0}, [][]byte{rec, rec})
			if errors.Is(err, errConflicts) && attempt < 100 {
				time.Sleep(20 * time.Millisecond)
				if _, serial, err = c.Load(h.oid); err == nil {
					continue
				}
			}
			ch <- res{tt, err}
			return
		}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("%s: next committer failed: %v", label, r.err)
		}
		for _, o := range both {
			data, serial, err := c.Load(o)
			if err != nil || serial != r.tid || string(data) != string(rec) {
				t.Fatalf("%s: next committer's object %s reads %q at %s (%v), want its data at %s", label, o, data, serial, err, r.tid)
			}
		}
		h.serial = r.tid
		return r.tid
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

// storeBoth stores label into the hot object and the victim's own one.
func storeBoth(t *testing.T, tx *client.Txn, h *hot, own storage.OID, label string) {
	t.Helper()
	if err := tx.Store(h.oid, h.serial, record(t, label)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(own, 0, record(t, label)); err != nil {
		t.Fatal(err)
	}
}

// TestClientVanishesInEveryCommitPhase: a client disappears after
// tpc_begin, after its stores, after vote (holding the commit lock),
// while waiting for the lock, in the middle of a frame while holding the
// lock, and right after sending tpc_finish. Each time the next committer
// must proceed, and the abandoned transaction must be invisible (or,
// for tpc_finish, complete).
func TestClientVanishesInEveryCommitPhase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "", "  blob-dir "+filepath.Join(dir, "blobs")))
	h := newHot(t, addr)

	t.Run("after tpc_begin", func(t *testing.T) {
		c, _, oid := victimTxn(t, addr)
		c.Close()
		nextCommitter(t, addr, "after tpc_begin", h)
		absent(t, addr, oid, "after tpc_begin")
	})
	t.Run("after stores", func(t *testing.T) {
		c, tx, oid := victimTxn(t, addr)
		storeBoth(t, tx, h, oid, "victim")
		if err := c.Ping(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		nextCommitter(t, addr, "after stores", h)
		absent(t, addr, oid, "after stores")
	})
	t.Run("after vote", func(t *testing.T) {
		c, tx, oid := victimTxn(t, addr)
		storeBoth(t, tx, h, oid, "victim")
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		c.Close() // holding the lock of the hot object
		nextCommitter(t, addr, "after vote", h)
		absent(t, addr, oid, "after vote")
	})
	t.Run("after vote of a blob transaction", func(t *testing.T) {
		// Blob transactions take the storage-wide lock.
		c, tx, oid := victimTxn(t, addr)
		if err := tx.StoreBlob(oid, 0, record(t, "blob victim"), []byte("blob data")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		nextCommitter(t, addr, "after blob vote", h)
		absent(t, addr, oid, "after blob vote")
	})
	t.Run("waiting for the lock", func(t *testing.T) {
		holder, htx, hoid := victimTxn(t, addr)
		storeBoth(t, htx, h, hoid, "holder")
		if _, _, err := htx.Vote(); err != nil {
			t.Fatal(err)
		}
		w, wtx, woid := victimTxn(t, addr)
		storeBoth(t, wtx, h, woid, "waiter")
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
		nextCommitter(t, addr, "waiting for the lock", h)
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
		r.send("storea", h.oid.Bytes(), storage.TIDBytes(h.serial), record(t, "victim"), txn)
		r.send("storea", oids[0].Bytes(), storage.TIDBytes(0), record(t, "victim"), txn)
		if v, isErr := r.call("vote", txn); isErr {
			t.Fatalf("vote refused: %s", wire.Repr(v))
		}
		// Announce a 1000-byte frame, send 10 bytes of it, vanish.
		r.nc.Write([]byte{0, 0, 3, 232, 0x80, 3, 'K', 1, 0x89, 'X', 0, 0, 0, 0})
		r.nc.Close()
		nextCommitter(t, addr, "mid-frame", h)
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
		if err := tx.Store(h.oid, h.serial, record(t, "finish")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		go tx.Finish()
		time.Sleep(time.Millisecond)
		c.Close()
		nextCommitter(t, addr, "after tpc_finish", h)
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
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p := startZEO(t, dir, addr, fsConf(path, "  transaction-timeout 1", ""))
	h := newHot(t, addr)
	c, tx, oid := victimTxn(t, addr)
	storeBoth(t, tx, h, oid, "silent")
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nextCommitter(t, addr, "silent holder", h)
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
