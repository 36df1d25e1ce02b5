package filestorage

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Group commit (docs/design/commit.md). Transactions that are ready together become durable
// together, and the fsync of a transaction's data starts before its
// client asks to finish it:
//
//  1. Write (at vote) appends a transaction with a new tid and status 'c',
//     as ZODB 6.3 FileStorage.tpc_vote writes it (under its commit lock;
//     here only the transaction's objects are locked, by the caller).
//     SyncData may then fsync the data at once, while the vote's reply
//     travels and the client turns around.
//  2. Finish (tpc_finish) marks it committed. Abort (tpc_abort after the
//     vote) removes it from the file, as Python's FileStorage._abort
//     truncates it: the transactions written after it are moved down
//     over it (they are all still 'c', since it held them back).
//  3. Sync makes the finished prefix of the written transactions
//     durable: fsync the data if SyncData has not covered it yet, flip
//     each status byte from 'c' to ' ', fsync again. Publish then makes
//     them visible to readers.
//
// The data of a transaction is durable before the status byte that
// commits it is written (stricter than Python's single fsync). Crash
// safety follows from the open-time scan, in Python
// (FileStorage.read_index) and here: the scan stops at the first 'c'
// transaction, cutting it and everything after it off. Sync flips status
// bytes in file order only (a finished transaction after a written one
// waits for it), so before Sync's second fsync returns a crash loses
// only transactions nobody was told are committed, and after it every
// synced transaction reads ' ' on disk. No 'u' transaction is ever
// written: Python's FileIterator mishandles them.
//
// While transactions are pending (written, not yet published), the
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
	// prevs[i]: the record of recs[i].oid before this transaction's (0:
	// none), what the oid's overlay entry goes back to on Abort.
	prevs    []int64
	finished bool
	// dataSynced: an fsync that started after the transaction was
	// written (at its current position) has returned.
	dataSynced bool
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

// Commit is Write followed by Finish.
func (g *Group) Commit(meta TxnMeta, recs []GroupRecord) (tid.TID, error) {
	t, err := g.Write(meta, recs)
	if err != nil {
		return 0, err
	}
	return t, g.Finish(t)
}

// Write appends a transaction of plain stores and deletions with a new
// tid and status 'c', without fsync. It is neither durable nor visible
// until Finish (or Abort), Sync and Publish. The caller has checked the
// serials (with CurrentSerial) and keeps other transactions off these
// oids until it calls Finish or Abort; each oid should appear once.
func (g *Group) Write(meta TxnMeta, recs []GroupRecord) (tid.TID, error) {
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
	gt := &groupTxn{tid: t, pos: pos, recs: make([]txnRec, 0, len(recs)), prevs: make([]int64, 0, len(recs))}
	var maxOid Oid
	for _, r := range recs {
		prev, inPending := g.overlay[r.Oid]
		if !inPending {
			prev, _ = s.index.Get(r.Oid)
		}
		rpos := pos + int64(len(buf))
		if q := s.opts.Quota; q > 0 && rpos > q {
			g.mu.Unlock()
			s.mu.Unlock()
			return 0, &QuotaError{File: s.path, Quota: q, At: rpos}
		}
		buf = appendDataRecord(buf, r.Oid, t, prev, pos, r.Data, 0)
		gt.recs = append(gt.recs, txnRec{oid: r.Oid, pos: rpos, plen: int64(len(r.Data))})
		gt.prevs = append(gt.prevs, prev)
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

// Finish marks a written transaction as committed: the next Sync that
// reaches it makes it durable.
func (g *Group) Finish(t tid.TID) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.writtenLocked(t)
	if i < 0 {
		return fmt.Errorf("%w: no written transaction %s to finish", ErrTransaction, t)
	}
	g.pending[i].finished = true
	return nil
}

// Abort removes a written transaction: the newest record of its oids
// is again the one before it, and the file loses its bytes, as Python's
// FileStorage._abort truncates them. Transactions written after it
// (none of them can be durable: it holds them back) are moved down over
// it, their record positions (tloc, and prev where it points into a
// moved transaction) adjusted; their data needs a new fsync. The caller
// has kept other transactions off its oids, so no later record points
// into it.
func (g *Group) Abort(t tid.TID) error {
	s := g.s
	g.syncMu.Lock() // no fsync in flight that would mark moved bytes synced
	defer g.syncMu.Unlock()
	s.commitMu.Lock() // no Write in flight into the tail
	defer s.commitMu.Unlock()
	s.mu.Lock() // no reader of pending records
	defer s.mu.Unlock()
	g.mu.Lock()
	defer g.mu.Unlock()
	i := g.writtenLocked(t)
	if i < 0 {
		return fmt.Errorf("%w: no written transaction %s to abort", ErrTransaction, t)
	}
	gt := g.pending[i]
	for k, r := range gt.recs {
		if g.overlay[r.oid] != r.pos {
			continue
		}
		if p := gt.prevs[k]; p != 0 && p >= s.pos {
			g.overlay[r.oid] = p // an earlier pending transaction's record
		} else {
			delete(g.overlay, r.oid)
		}
	}
	shift := gt.end - gt.pos
	end := g.endLocked()
	followers := g.pending[i+1:]
	if len(followers) > 0 {
		tail := make([]byte, end-gt.end)
		if _, err := s.f.ReadAt(tail, gt.end); err != nil {
			return g.failLocked(fmt.Errorf("%s: reading the transactions after an aborted one at %d: %w", s.path, gt.pos, err))
		}
		for _, f := range followers {
			for k, r := range f.recs {
				h := tail[r.pos-gt.end:]
				prev := int64(binary.BigEndian.Uint64(h[16:24]))
				if prev >= gt.pos && prev < gt.end {
					return g.failLocked(fmt.Errorf("%w: transaction %s has a record of oid %d after the aborted transaction %s", ErrTransaction, f.tid, r.oid, t))
				}
				if prev >= gt.end {
					prev -= shift
					binary.BigEndian.PutUint64(h[16:24], uint64(prev))
					f.prevs[k] = prev
				}
				binary.BigEndian.PutUint64(h[24:32], uint64(f.pos-shift))
				if g.overlay[r.oid] == r.pos {
					g.overlay[r.oid] = r.pos - shift
				}
				f.recs[k].pos -= shift
			}
			f.pos -= shift
			f.end -= shift
			f.dataSynced = false
		}
		if _, err := s.f.WriteAt(tail, gt.pos); err != nil {
			return g.failLocked(fmt.Errorf("%s: moving the transactions after an aborted one to %d: %w", s.path, gt.pos, err))
		}
	}
	if err := s.f.Truncate(end - shift); err != nil {
		return g.failLocked(fmt.Errorf("%s: truncating an aborted transaction: %w", s.path, err))
	}
	g.pending = append(g.pending[:i], g.pending[i+1:]...)
	if len(g.pending) == 0 {
		g.end = 0
		g.drained.Broadcast()
	} else {
		g.end = end - shift
	}
	return nil
}

// writtenLocked is the index in pending of the written, unfinished
// transaction t, or -1.
func (g *Group) writtenLocked(t tid.TID) int {
	for i := g.durable; i < len(g.pending); i++ {
		if gt := g.pending[i]; gt.tid == t && !gt.finished {
			return i
		}
	}
	return -1
}

// SyncData fsyncs the transactions written so far whose data no fsync
// has covered yet, so that a later Sync needs only its second fsync.
func (g *Group) SyncData() error {
	g.syncMu.Lock()
	defer g.syncMu.Unlock()
	g.mu.Lock()
	if g.err != nil {
		err := g.err
		g.mu.Unlock()
		return err
	}
	todo := g.unsyncedDataLocked()
	g.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	if err := g.s.sync(); err != nil {
		return g.fail(err)
	}
	g.markDataSynced(todo)
	return nil
}

// unsyncedDataLocked: the pending transactions an fsync would cover
// that no fsync has covered yet.
func (g *Group) unsyncedDataLocked() []*groupTxn {
	var out []*groupTxn
	for _, gt := range g.pending[g.durable:] {
		if !gt.dataSynced {
			out = append(out, gt)
		}
	}
	return out
}

func (g *Group) markDataSynced(txns []*groupTxn) {
	g.mu.Lock()
	for _, gt := range txns {
		gt.dataSynced = true
	}
	g.mu.Unlock()
}

// fail makes err sticky: the pipeline refuses further commits, as
// Python closes a storage whose tpc_finish failed.
func (g *Group) fail(err error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failLocked(err)
}

func (g *Group) failLocked(err error) error {
	g.err = err
	g.drained.Broadcast()
	return err
}

// Sync makes the finished transactions that precede every transaction
// still only written durable: fsync their data (unless SyncData did),
// flip each status byte to ' ', fsync again. It
// returns the tid of the newest durable transaction. A failure is
// sticky: the pipeline refuses further commits, as Python closes a
// storage whose tpc_finish failed.
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
	k := g.durable
	for k < len(g.pending) && g.pending[k].finished {
		k++
	}
	todo := append([]*groupTxn(nil), g.pending[g.durable:k]...)
	var last tid.TID
	if g.durable > 0 {
		last = g.pending[g.durable-1].tid
	}
	needData := false
	for _, gt := range todo {
		needData = needData || !gt.dataSynced
	}
	var unsynced []*groupTxn
	if needData {
		unsynced = g.unsyncedDataLocked()
	}
	g.mu.Unlock()
	if len(todo) == 0 {
		return last, nil
	}
	// s.mu is not held across the fsyncs: Write needs it (exclusively,
	// briefly) to append the next transactions meanwhile, and a waiting
	// writer would block every load behind it.
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	if needData {
		if err := s.sync(); err != nil {
			return 0, g.fail(err)
		}
		g.markDataSynced(unsynced)
	}
	status := []byte{StatusNormal}
	for _, gt := range todo {
		if _, err := s.f.WriteAt(status, gt.pos+16); err != nil {
			return 0, g.fail(fmt.Errorf("%s: finishing transaction at %d: %w", s.path, gt.pos, err))
		}
	}
	// The second fsync also makes durable the data of every transaction
	// written by now (each is in pending only once its bytes are
	// written): those voted while this batch synced need no fsync of
	// their own before their status byte.
	g.mu.Lock()
	covered := g.unsyncedDataLocked()
	g.mu.Unlock()
	if err := s.sync(); err != nil {
		return 0, g.fail(err)
	}
	g.markDataSynced(covered)
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

// Pending is the number of written transactions not yet published.
func (g *Group) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pending)
}

// Drain waits until every written transaction has been aborted, or
// finished and published (by whoever runs Sync and Publish).
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
