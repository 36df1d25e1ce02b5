package filestorage

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Group commit (docs/design/commit.md). Transactions that are ready together become
// durable together: each is appended to Data.fs with status 'c' as soon
// as it commits, and Sync pays the two fsyncs of a commit (data, then
// the flipped status bytes) once for every transaction appended since
// the last Sync. Publish then makes them visible to readers.
//
// Crash safety follows from the open-time scan (ZODB 6.3 FileStorage.read_index), in Python
// and here: the scan stops at the first 'c' transaction and cuts it and
// everything after it off. Before Sync's second fsync returns, a pending
// transaction may be cut off; the caller acknowledges nothing before
// that. After it, every synced transaction reads ' ' on disk and its
// data was on disk before the status byte was written.
//
// While transactions are pending (committed, not yet published), the
// ordinary Begin/Pack paths must not run: they write at the visible end
// of the file. The caller (pkg/zeo/fsstorage) excludes them and waits
// with Drain.

// GroupRecord is one object record of a group-committed transaction.
type GroupRecord struct {
	Oid Oid
	// Data is the pickle; nil writes a deletion record (deleteObject).
	Data []byte
}

// Group is the group-commit pipeline of one FileStorage.
type Group struct {
	s *FileStorage

	mu      sync.Mutex // guards the fields below; taken after s.mu
	end     int64      // where the next transaction goes; 0: s.pos
	pending []*groupTxn
	durable int           // pending[:durable] are durable
	overlay map[Oid]int64 // newest record of the oids of pending transactions
	drained *sync.Cond    // broadcast when pending empties
	err     error         // sticky write/fsync failure

	syncMu sync.Mutex // one Sync at a time

	// statistics: Syncs that wrote (two fsyncs each) and the
	// transactions they made durable.
	groups, grouped atomic.Int64
}

// Stats returns how many group syncs ran (each paying two fsyncs) and
// how many transactions they made durable.
func (g *Group) Stats() (groups, txns int64) { return g.groups.Load(), g.grouped.Load() }

type groupTxn struct {
	tid      tid.TID
	pos, end int64
	recs     []txnRec
}

// NewGroup returns the group-commit pipeline for s. Use one per storage.
func (s *FileStorage) NewGroup() *Group {
	g := &Group{s: s, overlay: map[Oid]int64{}}
	g.drained = sync.NewCond(&g.mu)
	return g
}

// CurrentSerial returns the tid of oid's newest record, counting
// transactions committed through the group but not yet visible: the
// serial a store must be based on. ok is false for an oid without a
// record.
func (g *Group) CurrentSerial(oid Oid) (t tid.TID, ok bool, err error) {
	s := g.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, false, ErrClosed
	}
	g.mu.Lock()
	pos, inPending := g.overlay[oid]
	end := g.endLocked()
	g.mu.Unlock()
	if !inPending {
		if pos, ok = s.index.Get(oid); !ok {
			return 0, false, nil
		}
	}
	h, err := s.readRecord(newReader(s.f, s.path, end, 0), oid, pos)
	if err != nil {
		return 0, false, err
	}
	return h.TID, true, nil
}

func (g *Group) endLocked() int64 {
	if g.end == 0 {
		return g.s.pos
	}
	return g.end
}

// Commit appends a transaction of plain stores and deletions with a new
// tid and status 'c', without fsync. It is neither durable nor visible
// until Sync and Publish. The caller has checked the serials (with
// CurrentSerial) and keeps other transactions off these oids until
// Commit returns; each oid should appear once.
func (g *Group) Commit(meta TxnMeta, recs []GroupRecord) (tid.TID, error) {
	for _, f := range []struct {
		n string
		b []byte
	}{{"user", meta.User}, {"description", meta.Description}, {"extension", meta.Extension}} {
		if len(f.b) > 0xffff {
			return 0, fmt.Errorf("%w: %s is %d bytes, at most 65535 fit", ErrTransaction, f.n, len(f.b))
		}
	}
	s := g.s
	s.commitMu.Lock()
	defer s.commitMu.Unlock()

	s.mu.Lock()
	if s.closed || s.ro {
		s.mu.Unlock()
		if s.ro {
			return 0, ErrReadOnly
		}
		return 0, ErrClosed
	}
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		s.mu.Unlock()
		return 0, err
	}
	now := tid.Now()
	if s.opts.Now != nil {
		now = s.opts.Now()
	}
	t := now.LaterThan(s.ts)
	s.ts = t
	pos := g.endLocked()
	hl := TxnHeaderLen + int64(len(meta.User)+len(meta.Description)+len(meta.Extension))
	size := hl + 8
	for _, r := range recs {
		size += DataHeaderLen + max(int64(len(r.Data)), 8)
	}
	buf := make([]byte, hl, size)
	gt := &groupTxn{tid: t, pos: pos, recs: make([]txnRec, 0, len(recs))}
	var maxOid Oid
	for _, r := range recs {
		prev, inPending := g.overlay[r.Oid]
		if !inPending {
			prev, _ = s.index.Get(r.Oid)
		}
		rpos := pos + int64(len(buf))
		buf = appendDataRecord(buf, r.Oid, t, prev, pos, r.Data, 0)
		gt.recs = append(gt.recs, txnRec{oid: r.Oid, pos: rpos, plen: int64(len(r.Data))})
		maxOid = max(maxOid, r.Oid)
	}
	if maxOid > s.maxOid {
		s.maxOid = maxOid
	}
	g.mu.Unlock()
	s.mu.Unlock()

	tlen := int64(len(buf))
	if pos+tlen+8 > maxPos {
		return 0, fmt.Errorf("%w: the file would exceed 2^48 bytes", ErrTransaction)
	}
	appendTxnHeader(buf[:0], t, tlen, StatusCheckpoint, meta.User, meta.Description, meta.Extension)
	buf = binary.BigEndian.AppendUint64(buf, uint64(tlen))
	if _, err := s.f.WriteAt(buf, pos); err != nil {
		s.f.Truncate(pos)
		return 0, fmt.Errorf("%s: writing transaction at %d: %w", s.path, pos, err)
	}
	gt.end = pos + tlen + 8

	g.mu.Lock()
	g.pending = append(g.pending, gt)
	for _, r := range gt.recs {
		g.overlay[r.oid] = r.pos
	}
	g.end = gt.end
	g.mu.Unlock()
	return t, nil
}

// Sync makes every transaction committed so far durable: fsync (their
// data), flip each status byte from 'c' to ' ', fsync again. It returns
// the tid of the newest durable transaction. A failure is sticky: the
// pipeline refuses further commits, as Python closes a storage whose
// tpc_finish failed.
func (g *Group) Sync() (tid.TID, error) {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	s := g.s
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return 0, err
	}
	todo := append([]*groupTxn(nil), g.pending[g.durable:]...)
	var last tid.TID
	if g.durable > 0 {
		last = g.pending[g.durable-1].tid
	}
	g.mu.Unlock()
	if len(todo) == 0 {
		return last, nil
	}
	// s.mu is not held across the fsyncs: Commit needs it (exclusively,
	// briefly) to append the next transactions meanwhile, and a waiting
	// writer would block every load behind it.
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	fail := func(err error) (tid.TID, error) {
		g.mu.Lock()
		g.err = err
		g.drained.Broadcast()
		g.mu.Unlock()
		return 0, err
	}
	if err := s.sync(); err != nil {
		return fail(err)
	}
	status := []byte{StatusNormal}
	for _, gt := range todo {
		if _, err := s.f.WriteAt(status, gt.pos+16); err != nil {
			return fail(fmt.Errorf("%s: finishing transaction at %d: %w", s.path, gt.pos, err))
		}
	}
	if err := s.sync(); err != nil {
		return fail(err)
	}
	g.mu.Lock()
	g.durable += len(todo)
	g.mu.Unlock()
	g.groups.Add(1)
	g.grouped.Add(int64(len(todo)))
	return todo[len(todo)-1].tid, nil
}

// Publish makes the durable transactions with tids up to upTo visible to
// readers (index, LastTransaction, Size). The caller does it while it
// queues their invalidations, so that no load sees a transaction whose
// invalidation could come after the load's reply.
func (g *Group) Publish(upTo tid.TID) {
	s := g.s
	s.mu.Lock()
	defer s.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for n < g.durable && g.pending[n].tid <= upTo {
		gt := g.pending[n]
		for _, r := range gt.recs {
			s.index.Set(r.oid, r.pos)
			if g.overlay[r.oid] == r.pos {
				delete(g.overlay, r.oid)
			}
		}
		s.pos = gt.end
		s.ltid = gt.tid
		n++
	}
	if n == 0 {
		return
	}
	g.pending = append(g.pending[:0], g.pending[n:]...)
	g.durable -= n
	if len(g.pending) == 0 {
		g.end = 0
		g.drained.Broadcast()
	}
}

// Pending is the number of committed transactions not yet published.
func (g *Group) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// Drain waits until every committed transaction has been published (by
// whoever runs Sync and Publish).
func (g *Group) Drain() {
	g.mu.Lock()
	for len(g.pending) > 0 && g.err == nil {
		g.drained.Wait()
	}
	g.mu.Unlock()
}

// Flush syncs and publishes everything pending (at close, when nobody
// else will).
func (g *Group) Flush() error {
	t, err := g.Sync()
	if err != nil {
		return err
	}
	g.Publish(t)
	return nil
}
