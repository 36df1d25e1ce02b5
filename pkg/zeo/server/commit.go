package server

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// maxVoteRounds: the client gives up after 9 rounds of conflict dicts and
// then calls tpc_finish without the lock (ZEO 6.0 ClientStorage.tpc_vote), so from
// this round on a conflict is reported as a ConflictError instead.
const maxVoteRounds = 8

func stErr(args ...any) error { return remote(ClassStorageTransactionError, args...) }

// txnFor returns the connection's transaction when it matches the client's
// txn id argument; c.mu must be held.
func (c *conn) txnForLocked(v any) (*ztxn, error) {
	key, ok := wire.IntKey(v)
	if !ok {
		return nil, typeErr("transaction id must be an int, got %s", wire.Repr(v))
	}
	t := c.txn
	if t == nil {
		return nil, stErr(nil, v)
	}
	if t.id != key {
		return nil, stErr(t.rawID, v)
	}
	return t, nil
}

func (c *conn) tpcBegin(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	txnID, err := arg(args, 0, "txn")
	if err != nil {
		return nil, err
	}
	key, ok := wire.IntKey(txnID)
	if !ok {
		return nil, typeErr("transaction id must be an int")
	}
	meta := storage.TxnMeta{}
	if len(args) > 1 {
		meta.User, _ = wire.AsBytes(args[1])
	}
	if len(args) > 2 {
		meta.Description, _ = wire.AsBytes(args[2])
	}
	if len(args) > 3 {
		if d, ok := args[3].(*wire.Dict); ok {
			for _, it := range d.Items {
				k, _ := wire.AsString(it.Key)
				meta.Extension = append(meta.Extension, storage.ExtItem{Key: k, Value: it.Value})
			}
		}
	}
	if len(args) > 4 && args[4] != nil {
		if meta.TID, err = argTID(args, 4, "tid"); err != nil {
			return nil, err
		}
	}
	meta.Status = ' '
	if len(args) > 5 {
		if s, ok := wire.AsString(args[5]); ok && len(s) == 1 {
			meta.Status = s[0]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.txn != nil {
		if c.txn.id == key {
			c.srv.log.warning("ZEO.StorageServer", "(%s) duplicate tpc_begin(%s)", c.labelAddrLocked(), key)
			return nil, nil
		}
		return nil, stErr(c.txn.rawID, txnID)
	}
	c.txn = &ztxn{conn: c, id: key, rawID: txnID, meta: meta, storeIdx: map[storage.OID]int{}}
	c.store.activeTxns.Add(1)
	return nil, nil
}

// addOp buffers an operation; a later store of the same oid replaces the
// earlier one (the client's resolved data after conflict dicts, or a blob
// store following a plain store).
func (c *conn) addOp(txnID any, op txnOp) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.txnForLocked(txnID)
	if err != nil {
		return err
	}
	if t.state == tWaiting || t.state == tVoted {
		return stErr("store after vote")
	}
	// The server buffers a transaction's stores until vote, so without a
	// cap one client grows its memory without bound
	// (docs/reliability.md finding 5). The stores are one-way calls, so
	// the refusal is kept for the vote, which answers it as a
	// StorageTransactionError the client raises; meanwhile what was
	// buffered is dropped and later stores are ignored.
	if t.overLimit != nil {
		if op.blob != "" {
			os.Remove(op.blob)
		}
		return nil
	}
	if max := c.srv.opts.MaxPendingStores; max > 0 && len(t.ops) >= max {
		if _, dup := t.storeIdx[op.oid]; !dup || op.kind != opStore {
			t.overLimit = stErr(fmt.Sprintf("too many stores in one transaction: more than %d (max-pending-stores)", max))
			c.srv.log.error("ZEO.StorageServer", "(%s) transaction refused: more than %d pending stores (max-pending-stores)", c.labelAddrLocked(), max)
			t.removeBlobs()
			if op.blob != "" {
				os.Remove(op.blob)
			}
			t.ops, t.storeIdx = nil, map[storage.OID]int{}
			return nil
		}
	}
	if op.kind == opStore {
		if i, ok := t.storeIdx[op.oid]; ok {
			if old := t.ops[i].blob; old != "" && old != op.blob {
				os.Remove(old)
			}
			t.ops[i] = op
			c.store.stores.Add(1)
			return nil
		}
		t.storeIdx[op.oid] = len(t.ops)
	}
	t.ops = append(t.ops, op)
	if op.kind != opCheck && op.kind != opUndo {
		c.store.stores.Add(1)
	}
	return nil
}

func (c *conn) storea(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	data, err := argBytes(args, 2, "data")
	if err != nil {
		return nil, err
	}
	txnID, err := arg(args, 3, "txn")
	if err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opStore, oid: oid, serial: serial, data: nz(data)})
}

func (c *conn) restorea(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	data, err := argBytes(args, 2, "data")
	if err != nil {
		return nil, err
	}
	var prev tid.TID
	if len(args) > 3 && args[3] != nil {
		if prev, err = argTID(args, 3, "prev_txn"); err != nil {
			return nil, err
		}
	}
	txnID, err := arg(args, 4, "txn")
	if err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opRestore, oid: oid, serial: serial, data: data, prevTxn: prev})
}

func (c *conn) deleteObject(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	txnID, err := arg(args, 2, "txn")
	if err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opDelete, oid: oid, serial: serial})
}

func (c *conn) checkCurrent(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	txnID, err := arg(args, 2, "txn")
	if err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opCheck, oid: oid, serial: serial})
}

func (c *conn) undoa(id any, args wire.Tuple) (any, error) {
	undoID, err := argBytes(args, 0, "trans_id")
	if err != nil {
		return nil, err
	}
	txnID, err := arg(args, 1, "txn")
	if err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opUndo, undoID: undoID})
}

func (c *conn) vote(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	txnID, err := arg(args, 0, "txn")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.txnForLocked(txnID)
	if err != nil {
		c.srv.log.warning("ZEO.StorageServer", "(%s) no current transaction: vote()", c.labelAddrLocked())
		return nil, err
	}
	switch t.state {
	case tWaiting:
		return nil, stErr("Already voting (waiting)")
	case tVoted:
		return nil, stErr("Already voting (locked)")
	case tResolving:
		// The lock was kept across the client's conflict resolution
		// (docs/design/commit.md): vote again at once.
		c.doVoteLocked(t, id)
		return nil, errNoReply
	}
	if t.overLimit != nil {
		err := t.overLimit
		c.abortLocked(t)
		c.store.aborts.Add(1)
		return nil, err
	}
	t.state = tWaiting
	t.voted = c.srv.obsStart()
	st := c.store
	t.shared, t.lockOIDs = false, nil
	if st.group != nil && groupable(t) {
		t.shared = true
		seen := make(map[storage.OID]bool, len(t.ops))
		for _, op := range t.ops {
			if !seen[op.oid] {
				seen[op.oid] = true
				t.lockOIDs = append(t.lockOIDs, op.oid)
			}
		}
	}
	granted := st.acquire(t, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.txn != t || t.state != tWaiting || c.isClosed() {
			st.release(t)
			return
		}
		c.doVoteLocked(t, id)
	})
	if granted {
		c.doVoteLocked(t, id)
	}
	return nil, errNoReply
}

// groupable: plain stores, deletions and readCurrent checks with a tid
// of the storage's choosing can go through group commit; undo, restore
// and blobs take the storage-wide lock.
func groupable(t *ztxn) bool {
	if t.meta.TID != 0 {
		return false
	}
	for _, op := range t.ops {
		switch op.kind {
		case opStore:
			if op.blob != "" {
				return false
			}
		case opDelete, opCheck:
		default:
			return false
		}
	}
	return true
}

// doVoteLocked runs with c.mu held and the commit lock owned by t: replay
// the buffered operations on a storage transaction and reply.
func (c *conn) doVoteLocked(t *ztxn, msgID any) {
	st := c.store
	if !t.holdsLock {
		t.holdsLock = true
		if d := c.srv.opts.TransactionTimeout; d > 0 {
			t.timer = time.AfterFunc(d, func() { c.timeout(t, d) })
		}
	}
	t.voteRounds++
	if t.shared {
		c.doGroupVoteLocked(t, msgID)
		return
	}
	stxn, err := st.st.Begin(t.meta)
	if err != nil {
		c.failVoteLocked(t, msgID, err)
		return
	}
	var conflicts wire.List
	var firstConflict *storage.ConflictError
	var undone []storage.OID
	for _, op := range t.ops {
		var err error
		switch op.kind {
		case opStore:
			if op.blob != "" {
				err = c.storeBlobInto(stxn, op)
			} else {
				err = stxn.Store(op.oid, op.serial, op.data)
			}
			var ce *storage.ConflictError
			if errors.As(err, &ce) && !ce.Read {
				// Client-side resolution: hand the conflict back as a dict
				// (docs/design/commit.md); the server never unpickles.
				if firstConflict == nil {
					firstConflict = ce
				}
				conflicts = append(conflicts, wire.NewDict(
					"oid", op.oid.Bytes(),
					"serials", wire.Tuple{storage.TIDBytes(ce.Committed), storage.TIDBytes(ce.Serial)},
					"data", op.data))
				err = nil
			}
		case opRestore:
			err = stxn.Restore(op.oid, op.serial, op.data, op.prevTxn)
		case opDelete:
			err = stxn.Delete(op.oid, op.serial)
		case opCheck:
			err = stxn.CheckCurrent(op.oid, op.serial)
		case opUndo:
			var oids []storage.OID
			oids, err = stxn.Undo(op.undoID)
			undone = append(undone, oids...)
		}
		if err != nil {
			stxn.Abort()
			c.failVoteLocked(t, msgID, err)
			return
		}
	}
	if conflicts != nil {
		stxn.Abort()
		st.conflicts.Add(1)
		if t.voteRounds >= maxVoteRounds {
			c.failVoteLocked(t, msgID, firstConflict)
			return
		}
		t.state = tResolving
		c.reply(msgID, conflicts, nil)
		return
	}
	if err := stxn.Vote(); err != nil {
		stxn.Abort()
		var vc *storage.VoteConflicts
		if errors.As(err, &vc) && len(vc.Conflicts) > 0 {
			c.voteConflictsLocked(t, msgID, vc)
			return
		}
		c.failVoteLocked(t, msgID, err)
		return
	}
	t.stxn = stxn
	t.undone = undone
	t.state = tVoted
	// Oids whose stored data is not what the client sent (undo) go back so
	// the client invalidates instead of caching its own bytes (ZEO 6.0
	// ClientStorage.tpc_vote).
	out := make(wire.List, len(undone))
	for i, o := range undone {
		out[i] = o.Bytes()
	}
	c.reply(msgID, out, nil)
}

// voteConflictsLocked hands the conflicts a storage found at vote back to
// the client for resolution, as doVoteLocked does those of Store, with
// the data the client stored last for each object.
func (c *conn) voteConflictsLocked(t *ztxn, msgID any, vc *storage.VoteConflicts) {
	data := make(map[storage.OID][]byte, len(t.ops))
	for _, op := range t.ops {
		if op.kind == opStore {
			data[op.oid] = op.data
		}
	}
	conflicts := make(wire.List, 0, len(vc.Conflicts))
	for _, ce := range vc.Conflicts {
		conflicts = append(conflicts, wire.NewDict(
			"oid", ce.OID.Bytes(),
			"serials", wire.Tuple{storage.TIDBytes(ce.Committed), storage.TIDBytes(ce.Serial)},
			"data", data[ce.OID]))
	}
	c.store.conflicts.Add(1)
	if t.voteRounds >= maxVoteRounds {
		first := vc.Conflicts[0]
		c.failVoteLocked(t, msgID, &first)
		return
	}
	t.state = tResolving
	c.reply(msgID, conflicts, nil)
}

// doGroupVoteLocked is the vote of a group-commit transaction: with its
// objects locked, check the serials against the newest committed state
// (durable or not) and answer; nothing is written before tpc_finish.
// Conflicts are reported as in doVoteLocked, and the object locks are
// kept while the client resolves (docs/design/commit.md).
func (c *conn) doGroupVoteLocked(t *ztxn, msgID any) {
	st := c.store
	var extra []storage.OID
	locked := make(map[storage.OID]bool, len(t.lockOIDs))
	for _, o := range t.lockOIDs {
		locked[o] = true
	}
	for _, op := range t.ops {
		if !locked[op.oid] {
			locked[op.oid] = true
			extra = append(extra, op.oid)
		}
	}
	if len(extra) > 0 && !st.lockMore(t, extra) {
		c.failVoteLocked(t, msgID, &storage.ConflictError{OID: extra[0], Msg: "object locked by another transaction"})
		return
	}
	var conflicts wire.List
	var firstConflict *storage.ConflictError
	for _, op := range t.ops {
		cur, ok, err := st.group.CurrentSerial(op.oid)
		if err == nil {
			switch op.kind {
			case opStore:
				// As FileStorage's store: only an existing object is
				// checked; a new one comes with serial 0.
				if ok && cur != op.serial {
					ce := &storage.ConflictError{OID: op.oid, Committed: cur, Serial: op.serial}
					if firstConflict == nil {
						firstConflict = ce
					}
					conflicts = append(conflicts, wire.NewDict(
						"oid", op.oid.Bytes(),
						"serials", wire.Tuple{storage.TIDBytes(cur), storage.TIDBytes(op.serial)},
						"data", op.data))
				}
			case opDelete:
				if !ok {
					err = &storage.POSKeyError{OID: op.oid}
				} else if cur != op.serial {
					err = &storage.ConflictError{OID: op.oid, Committed: cur, Serial: op.serial}
				}
			case opCheck:
				if !ok {
					err = &storage.POSKeyError{OID: op.oid}
				} else if cur != op.serial {
					err = &storage.ConflictError{OID: op.oid, Committed: cur, Serial: op.serial, Read: true}
				}
			}
		}
		if err != nil {
			c.failVoteLocked(t, msgID, err)
			return
		}
	}
	if conflicts != nil {
		st.conflicts.Add(1)
		if t.voteRounds >= maxVoteRounds {
			c.failVoteLocked(t, msgID, firstConflict)
			return
		}
		t.state = tResolving
		c.reply(msgID, conflicts, nil)
		return
	}
	t.state = tVoted
	c.reply(msgID, wire.List{}, nil)
}

// finishGroupLocked is tpc_finish of a group-commit transaction: commit
// it (tid chosen now), queue it for the committer, which replies once
// it is durable, and release its object locks at once so the next
// transaction on them can vote against it.
func (c *conn) finishGroupLocked(t *ztxn, id any, oids []storage.OID) error {
	st := c.store
	recs := make([]storage.GroupRecord, 0, len(t.ops))
	for _, op := range t.ops {
		switch op.kind {
		case opStore:
			recs = append(recs, storage.GroupRecord{OID: op.oid, Data: op.data})
		case opDelete:
			recs = append(recs, storage.GroupRecord{OID: op.oid})
		}
	}
	st.finishMu.Lock()
	newTid, err := st.group.CommitGroup(t.meta, recs)
	if err == nil {
		st.enqueueFinished(&finished{conn: c, msgID: id, tid: newTid, oids: oids, voted: t.voted})
	}
	st.finishMu.Unlock()
	c.abortLocked(t) // releases the object locks and forgets the txn
	return err
}

// failVoteLocked aborts and forgets the transaction, releases the lock and
// sends the error (the client's following tpc_abort is then a no-op).
func (c *conn) failVoteLocked(t *ztxn, msgID any, err error) {
	var ce *storage.ConflictError
	var pk *storage.POSKeyError
	if errors.As(err, &ce) {
		if !ce.Read {
			c.store.conflicts.Add(1)
		}
	} else if !errors.As(err, &pk) {
		c.srv.log.error("ZEO.StorageServer", "(%s) `'vote'` raised exception: %v", c.labelAddrLocked(), err)
	}
	c.abortLocked(t)
	c.reply(msgID, nil, err)
}

// abortLocked drops t: storage abort, lock release or queue removal.
func (c *conn) abortLocked(t *ztxn) {
	if t.stxn != nil {
		t.stxn.Abort()
		t.stxn = nil
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	if t.holdsLock || t.state == tWaiting {
		c.store.release(t)
	}
	t.holdsLock = false
	t.removeBlobs()
	if c.txn == t {
		c.txn = nil
		c.store.activeTxns.Add(-1)
	}
}

// timeout fixes ZEO 5.4-6.0's leak: abort, release the lock, then close
// (docs/design/commit.md, "Locks").
func (c *conn) timeout(t *ztxn, d time.Duration) {
	c.mu.Lock()
	if c.txn != t || !t.holdsLock {
		c.mu.Unlock()
		return
	}
	c.srv.log.critical("ZEO.StorageServer", "(%s) Transaction timeout after %s seconds", c.labelAddrLocked(), c.srv.timeoutText(d))
	c.abortLocked(t)
	c.mu.Unlock()
	c.close()
}

func fmtSeconds(d time.Duration) string {
	s := d.Seconds()
	if s == float64(int64(s)) {
		return fmt.Sprintf("%d", int64(s))
	}
	return fmt.Sprintf("%g", s)
}

func (c *conn) tpcFinish(id any, args wire.Tuple) (any, error) {
	txnID, err := arg(args, 0, "txn")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.txnForLocked(txnID)
	if err != nil {
		// Stock ZEO answers None here; a None tid confuses the client, so
		// we report the error.
		return nil, err
	}
	if t.state != tVoted {
		return nil, stErr("tpc_finish called before a successful vote")
	}
	st := c.store
	oids := make([]storage.OID, 0, len(t.ops)+len(t.undone))
	for _, op := range t.ops {
		if op.kind != opCheck && op.kind != opUndo {
			oids = append(oids, op.oid)
		}
	}
	oids = append(oids, t.undone...)
	if t.shared {
		if err := c.finishGroupLocked(t, id, oids); err != nil {
			return nil, err
		}
		return nil, errNoReply
	}
	// Make the transaction visible and queue its invalidations under the
	// exclusive visibility lock (docs/design/commit.md, "Ordering", rules 2
	// and 3), then info and the reply on the committer (ZEO 6.0
	// ZEOStorage._finish_tpc), then release the commit lock.
	st.vis.Lock()
	newTid, err := t.stxn.Finish()
	if err != nil {
		st.vis.Unlock()
		t.stxn = nil
		c.abortLocked(t)
		return nil, err
	}
	if pc, ok := t.stxn.(storage.PriorCommits); ok {
		// Commits made elsewhere below ours go out first, to the
		// committer too, so that no client's last tid goes backwards.
		st.publishForeign(pc.PriorCommits())
	}
	st.publish(c, newTid, oids)
	c.callAsync("info", wire.Tuple{st.infoDict()})
	st.observeCommit(t.voted)
	c.reply(id, storage.TIDBytes(newTid), nil)
	st.vis.Unlock()
	st.commits.Add(1)
	t.stxn = nil
	c.abortLocked(t) // releases the lock and forgets the (finished) txn
	return nil, errNoReply
}

func (c *conn) tpcAbort(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		// What the read-only capture shows (session-readonly).
		return nil, storage.ErrReadOnly
	}
	txnID, err := arg(args, 0, "txn")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.txnForLocked(txnID)
	if err != nil {
		return nil, nil // unknown or mismatched txn: silently ignored
	}
	c.abortLocked(t)
	c.store.aborts.Add(1)
	return nil, nil
}
