package filestorage

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/zdkit/zdkit/pkg/tid"
)

// TxnMeta is what tpc_begin captures from the transaction: user and
// description as bytes (ZODB encodes text as UTF-8) and the extension as
// raw bytes: empty, or a pickle of a dict (docs/design/data-fs.md; Python's history()
// fails on anything else).
type TxnMeta struct {
	User        []byte
	Description []byte
	Extension   []byte
}

// Txn is a transaction going through the two-phase commit. It holds the
// storage's commit lock from Begin until Finish or Abort, so exactly one
// Txn is active at a time (as in Python); a ZEO server queues the others.
//
// The data records are kept in memory until Vote (Python uses Data.fs.tmp).
type Txn struct {
	s      *FileStorage
	tid    tid.TID
	status byte
	meta   TxnMeta
	hl     int64
	// buf is the whole transaction record being built: hl bytes kept for
	// the header (filled in by Vote), then the data records, so Vote
	// writes it with one call and no copy.
	buf  []byte
	recs []txnRec // records in write order; the last one per oid counts
	// tindex is built lazily (undo needs lookups by oid).
	tindex map[Oid]int
	maxOid Oid
	// conflicts from Store/DeleteObject/CheckCurrentSerial not yet
	// cleared by a successful store of the same oid (ZEO 5: vote
	// reports them, the client resolves and stores again).
	conflicts map[Oid]*ConflictError
	blobFiles []string // committed blob files placed by this txn
	voted     bool
	done      bool
}

func (s *FileStorage) begin(meta TxnMeta, given tid.TID, status byte) (*Txn, error) {
	for _, f := range []struct {
		n string
		b []byte
	}{{"user", meta.User}, {"description", meta.Description}, {"extension", meta.Extension}} {
		if len(f.b) > 0xffff {
			return nil, fmt.Errorf("%w: %s is %d bytes, at most 65535 fit", ErrTransaction, f.n, len(f.b))
		}
	}
	if status != StatusNormal && status != StatusPacked {
		return nil, fmt.Errorf("%w: status %q is not ' ' or 'p'", ErrTransaction, status)
	}
	s.commitMu.Lock()
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(err error) (*Txn, error) {
		s.commitMu.Unlock()
		return nil, err
	}
	if s.closed {
		return fail(ErrClosed)
	}
	if s.ro {
		return fail(ErrReadOnly)
	}
	var t tid.TID
	if given != 0 {
		// Python trusts a caller's tid; a smaller one corrupts the
		// file's order, so we refuse it (ZODB 6.3 accepted it: docs/migrating.md).
		if given <= s.ltid {
			return fail(fmt.Errorf("%w: tid %s is not after the last transaction %s", ErrTransaction, given.Repr(), s.ltid.Repr()))
		}
		t = given
	} else {
		now := tid.Now()
		if s.opts.Now != nil {
			now = s.opts.Now()
		}
		t = now.LaterThan(s.ts)
	}
	if t > s.ts {
		s.ts = t
	}
	x := &Txn{s: s, tid: t, status: status, meta: meta,
		hl: TxnHeaderLen + int64(len(meta.User)+len(meta.Description)+len(meta.Extension))}
	x.buf = make([]byte, x.hl, x.hl+4096)
	s.txn = x
	return x, nil
}

// Begin starts a transaction with a new tid: max(now, last tid + 1)
// (tpc_begin without a tid).
func (s *FileStorage) Begin(meta TxnMeta) (*Txn, error) {
	return s.begin(meta, 0, StatusNormal)
}

// BeginWithTID starts a transaction with a given tid and status (' ' or
// 'p'), as restore/copyTransactionsFrom do. The tid must be greater
// than the last transaction's.
func (s *FileStorage) BeginWithTID(meta TxnMeta, t tid.TID, status byte) (*Txn, error) {
	if t == 0 {
		return nil, fmt.Errorf("%w: tid 0 is not a transaction id", ErrTransaction)
	}
	return s.begin(meta, t, status)
}

// TID is the transaction's id.
func (x *Txn) TID() tid.TID { return x.tid }

func (x *Txn) check() error {
	if x.done {
		return fmt.Errorf("%w: transaction already finished or aborted", ErrTransaction)
	}
	if x.voted {
		return fmt.Errorf("%w: transaction already voted", ErrTransaction)
	}
	return nil
}

// committedSerial returns the committed position and serial of oid.
func (x *Txn) committedSerial(oid Oid) (int64, tid.TID, bool, error) {
	s := x.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, 0, false, ErrClosed
	}
	old, ok := s.index.Get(oid)
	if !ok {
		return 0, 0, false, nil
	}
	h, err := s.readRecord(newReader(s.f, s.path, s.pos, 0), oid, old)
	if err != nil {
		return 0, 0, false, err
	}
	return old, h.TID, true, nil
}

func (x *Txn) add(oid Oid, prev int64, data []byte, back int64) {
	pos := x.s.pos + int64(len(x.buf))
	x.buf = appendDataRecord(x.buf, oid, x.tid, prev, x.s.pos, data, back)
	if x.tindex != nil {
		x.tindex[oid] = len(x.recs)
	}
	x.recs = append(x.recs, txnRec{oid: oid, pos: pos, plen: int64(len(data)), back: back})
	if oid > x.maxOid {
		x.maxOid = oid
	}
}

// Store writes a new revision of oid (store(oid, oldserial, data)). If
// oid exists, oldSerial must be its committed serial, else a
// *ConflictError carries both serials (resolution is the client's job,
// decision 4). A new object comes with oldSerial 0 and is not checked.
func (x *Txn) Store(oid Oid, oldSerial tid.TID, data []byte) error {
	if err := x.check(); err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: store of oid %s with empty data", ErrTransaction, oid.Repr())
	}
	old, cur, ok, err := x.committedSerial(oid)
	if err != nil {
		return err
	}
	if ok && cur != oldSerial {
		return x.conflict(&ConflictError{Oid: oid, Committed: cur, Expected: oldSerial, Data: data})
	}
	delete(x.conflicts, oid)
	x.add(oid, old, data, 0)
	return nil
}

// DeleteObject writes a "no data" record for oid (deleteObject, used by
// external GC). The oid must exist and oldSerial must be current.
func (x *Txn) DeleteObject(oid Oid, oldSerial tid.TID) error {
	if err := x.check(); err != nil {
		return err
	}
	old, cur, ok, err := x.committedSerial(oid)
	if err != nil {
		return err
	}
	if !ok {
		return &KeyError{Oid: oid}
	}
	if cur != oldSerial {
		return x.conflict(&ConflictError{Oid: oid, Committed: cur, Expected: oldSerial})
	}
	delete(x.conflicts, oid)
	x.add(oid, old, nil, 0)
	return nil
}

// CheckCurrentSerial is checkCurrentSerialInTransaction (readCurrent):
// a *ConflictError when oid's serial is no longer serial.
func (x *Txn) CheckCurrentSerial(oid Oid, serial tid.TID) error {
	if err := x.check(); err != nil {
		return err
	}
	_, cur, ok, err := x.committedSerial(oid)
	if err != nil {
		return err
	}
	if !ok {
		return &KeyError{Oid: oid}
	}
	if cur != serial {
		return x.conflict(&ConflictError{Oid: oid, Committed: cur, Expected: serial})
	}
	return nil
}

func (x *Txn) conflict(e *ConflictError) error {
	if x.conflicts == nil {
		x.conflicts = map[Oid]*ConflictError{}
	}
	x.conflicts[e.Oid] = e
	return e
}

// Conflicts lists the conflicts still pending, by oid.
func (x *Txn) Conflicts() []*ConflictError {
	out := make([]*ConflictError, 0, len(x.conflicts))
	for _, c := range x.conflicts {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Oid < out[j].Oid })
	return out
}

// VoteConflictError is returned by Vote while conflicts are pending. The
// transaction stays open: the client may store resolved data for those
// oids and vote again (ZEO 5), or abort.
type VoteConflictError struct{ Conflicts []*ConflictError }

func (e *VoteConflictError) Error() string {
	return fmt.Sprintf("%d conflicts, first: %v", len(e.Conflicts), e.Conflicts[0])
}

func (e *VoteConflictError) Unwrap() error { return ErrConflict }

// Vote writes the transaction after the last one with status 'c' and
// fsyncs it (tpc_vote; Python does not fsync here: docs/design/commit.md). Pending
// conflicts give a *VoteConflictError and nothing is written. On a
// write error the file is cut back and the error returned; the caller
// must then Abort.
func (x *Txn) Vote() error {
	if err := x.check(); err != nil {
		return err
	}
	if len(x.conflicts) > 0 {
		return &VoteConflictError{Conflicts: x.Conflicts()}
	}
	s := x.s
	s.mu.RLock()
	closed, pos := s.closed, s.pos
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	tlen := int64(len(x.buf))
	if pos+tlen+8 > maxPos {
		return fmt.Errorf("%w: the file would exceed 2^48 bytes", ErrTransaction)
	}
	appendTxnHeader(x.buf[:0], x.tid, tlen, StatusCheckpoint, x.meta.User, x.meta.Description, x.meta.Extension)
	x.buf = binary.BigEndian.AppendUint64(x.buf, uint64(tlen))
	_, err := s.f.WriteAt(x.buf, pos)
	x.buf = x.buf[:tlen]
	if err != nil {
		s.f.Truncate(pos)
		return fmt.Errorf("%s: writing transaction at %d: %w", s.path, pos, err)
	}
	x.voted = true
	if err := s.sync(); err != nil {
		return err
	}
	return nil
}

// Finish flips the status byte from 'c' to the transaction's status,
// fsyncs (unless DeferFinishSync), makes the transaction visible to
// readers, releases the commit lock and returns the committed tid.
func (x *Txn) Finish() (tid.TID, error) {
	if x.done {
		return 0, fmt.Errorf("%w: transaction already finished or aborted", ErrTransaction)
	}
	if !x.voted {
		return 0, fmt.Errorf("%w: finish before vote", ErrTransaction)
	}
	s := x.s
	defer x.release()
	if _, err := s.f.WriteAt([]byte{x.status}, s.pos+16); err != nil {
		s.f.Truncate(s.pos)
		return 0, fmt.Errorf("%s: finishing transaction at %d: %w", s.path, s.pos, err)
	}
	if !s.opts.DeferFinishSync {
		if err := s.sync(); err != nil {
			return 0, err
		}
	}
	s.mu.Lock()
	for _, r := range x.recs {
		s.index.Set(r.oid, r.pos)
	}
	s.pos += int64(len(x.buf)) + 8
	s.ltid = x.tid
	if x.maxOid > s.maxOid {
		s.maxOid = x.maxOid
	}
	s.mu.Unlock()
	return x.tid, nil
}

// Abort drops the transaction; after a vote the file is cut back to
// where the transaction started (tpc_abort). Abort after Finish or a
// second Abort does nothing.
func (x *Txn) Abort() error {
	if x.done {
		return nil
	}
	defer x.release()
	x.removeBlobs()
	if x.voted {
		s := x.s
		s.mu.RLock()
		defer s.mu.RUnlock()
		if s.closed {
			return nil
		}
		if err := s.f.Truncate(s.pos); err != nil {
			return fmt.Errorf("%s: aborting: %w", s.path, err)
		}
		return s.sync()
	}
	return nil
}

func (x *Txn) release() {
	x.done = true
	x.buf = nil
	x.s.mu.Lock()
	if x.s.txn == x {
		x.s.txn = nil
	}
	x.s.mu.Unlock()
	x.s.commitMu.Unlock()
}

// Oids lists the oids written so far in this transaction.
func (x *Txn) Oids() []Oid {
	seen := map[Oid]bool{}
	out := make([]Oid, 0, len(x.recs))
	for _, r := range x.recs {
		if !seen[r.oid] {
			seen[r.oid] = true
			out = append(out, r.oid)
		}
	}
	return out
}

type txnRec struct {
	oid        Oid
	pos        int64
	plen, back int64
}

// lookup returns this transaction's last record for oid.
func (x *Txn) lookup(oid Oid) (txnRec, bool) {
	if x.tindex == nil {
		x.tindex = make(map[Oid]int, len(x.recs))
		for i, r := range x.recs {
			x.tindex[r.oid] = i
		}
	}
	i, ok := x.tindex[oid]
	if !ok {
		return txnRec{}, false
	}
	return x.recs[i], true
}

// Restore writes a record copied from another storage (restore(), used
// by copyTransactionsFrom and fsrecover): no serial check, the record
// keeps the source serial, nil data means "no data". When prevTxn (the
// source's data_txn) names a transaction of this file holding a record
// of oid that is a backpointer or has exactly this data, a backpointer
// to it is written instead of the data.
func (x *Txn) Restore(oid Oid, serial tid.TID, data []byte, prevTxn tid.TID) error {
	if err := x.check(); err != nil {
		return err
	}
	s := x.s
	s.mu.RLock()
	r := newReader(s.f, s.path, s.pos, 0)
	old, _ := s.index.Get(oid)
	var back int64
	if prevTxn != 0 {
		back = findTxnData(r, s.pos, prevTxn, oid, data)
	}
	s.mu.RUnlock()
	if back != 0 {
		data = nil
	}
	pos := s.pos + int64(len(x.buf))
	x.buf = appendDataRecord(x.buf, oid, serial, old, s.pos, data, back)
	if x.tindex != nil {
		x.tindex[oid] = len(x.recs)
	}
	x.recs = append(x.recs, txnRec{oid: oid, pos: pos, plen: int64(len(data)), back: back})
	if oid > x.maxOid {
		x.maxOid = oid
	}
	return nil
}

// findTxnData is _txn_find + _data_find: the transaction with tid t
// (walking back from end), then its last record of oid, if that record
// is a backpointer or holds exactly data; 0 otherwise.
func findTxnData(r *reader, end int64, t tid.TID, oid Oid, data []byte) int64 {
	pos := end
	for pos > magicLen {
		tl, err := r.redundantLen(pos)
		if err != nil {
			return 0
		}
		pos -= tl + 8
		h, err := r.readTxnHeader(pos)
		if err != nil {
			return 0
		}
		if h.TID != t {
			continue
		}
		var found DataHeader
		ok := false
		for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
			d, err := r.readDataHeader(dp, de)
			if err != nil {
				return 0
			}
			if d.Oid == oid {
				found, ok = d, true
			}
			dp += d.RecordLen()
		}
		if !ok {
			return 0
		}
		if found.DataLen == 0 {
			return found.Pos // a backpointer too: trust it
		}
		if found.DataLen != int64(len(data)) {
			return 0
		}
		got, err := r.readData(&found)
		if err != nil || string(got) != string(data) {
			return 0
		}
		return found.Pos
	}
	return 0
}
