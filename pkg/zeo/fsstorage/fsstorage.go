// Package fsstorage adapts pkg/filestorage (Data.fs) to the storage
// interface the ZEO server serves (pkg/zeo/storage). It only translates
// types and errors; the file format, the commit path and pack live in
// pkg/filestorage.
package fsstorage

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Storage serves one Data.fs.
type Storage struct {
	fs *filestorage.FileStorage
	// NoPackGC turns off garbage collection in pack (<filestorage>
	// pack-gc false).
	NoPackGC bool
	blobs    *blobDir // nil: no blob support

	// group pipelines plain commits (storage.GroupCommitter);
	// nil when read-only. excl keeps the ordinary commit path and pack,
	// which write at the visible end of the file, apart from it: group
	// commits take it shared, Begin (until Finish/Abort) and Pack
	// exclusively, after waiting for the pipeline to drain.
	group *filestorage.Group
	excl  sync.RWMutex

	logs *logSink // filestorage's warnings, for the server's log (log.go)
}

var (
	_ storage.Storage            = (*Storage)(nil)
	_ storage.Undoer             = (*Storage)(nil)
	_ storage.Iterator           = (*Storage)(nil)
	_ storage.RecordIterator     = (*Storage)(nil)
	_ storage.InvalidationSource = (*Storage)(nil)
	_ storage.GroupCommitter     = (*Storage)(nil)
)

// Open opens (or with opts.Create creates) the Data.fs at path.
func Open(path string, opts filestorage.Options) (*Storage, error) {
	return OpenWithBlobs(path, "", opts)
}

// OpenWithBlobs opens a Data.fs with a blob directory (IBlobStorage);
// an empty blobDir means no blobs.
func OpenWithBlobs(path, blobPath string, opts filestorage.Options) (*Storage, error) {
	var bd *blobDir
	if blobPath != "" {
		var err error
		if bd, err = openBlobDir(blobPath); err != nil {
			return nil, err
		}
	}
	var logs *logSink
	if opts.Logf == nil {
		logs = &logSink{}
		opts.Logf = logs.logf
	}
	fs, err := filestorage.Open(path, opts)
	if err != nil {
		return nil, err
	}
	st := &Storage{fs: fs, blobs: bd, logs: logs}
	if !fs.IsReadOnly() {
		st.group = fs.NewGroup()
	}
	return st, nil
}

// FileStorage returns the underlying storage.
func (s *Storage) FileStorage() *filestorage.FileStorage { return s.fs }

// Info reports what a Python FileStorage without blobs reports.
func (s *Storage) Info() storage.Info {
	var ifaces []storage.Interface
	if s.blobs != nil {
		ifaces = append(ifaces, storage.Interface{Module: "ZODB.interfaces", Name: "IBlobStorage"})
	}
	for _, n := range []string{"IStorageRestoreable", "IStorageIteration", "IStorageUndoable",
		"IStorageCurrentRecordIteration", "IExternalGC", "IStorage"} {
		ifaces = append(ifaces, storage.Interface{Module: "ZODB.interfaces", Name: n})
	}
	ifaces = append(ifaces, storage.Interface{Module: "zope.interface", Name: "Interface"})
	return storage.Info{Name: s.fs.Path(), SupportsUndo: true, SupportsRecordIternext: true,
		ReadOnly: s.fs.IsReadOnly(), Interfaces: ifaces}
}

func (s *Storage) Len() int                 { return s.fs.Len() }
func (s *Storage) Size() int64              { return s.fs.Size() }
func (s *Storage) LastTransaction() tid.TID { return s.fs.LastTransaction() }

// Close publishes what the group pipeline still holds (the server has
// stopped by then, so nobody else will), then closes the file.
func (s *Storage) Close() error {
	if s.group != nil {
		s.group.Flush()
	}
	return s.fs.Close()
}

// CurrentSerial implements storage.GroupCommitter.
func (s *Storage) CurrentSerial(oid storage.OID) (tid.TID, bool, error) {
	if s.group == nil {
		return 0, false, storage.ErrReadOnly
	}
	t, ok, err := s.group.CurrentSerial(filestorage.Oid(oid))
	return t, ok, convErr(err)
}

// CommitGroup implements storage.GroupCommitter.
func (s *Storage) CommitGroup(meta storage.TxnMeta, recs []storage.GroupRecord) (tid.TID, error) {
	if s.group == nil {
		return 0, storage.ErrReadOnly
	}
	extBytes, err := storage.PickleExtension(meta.Extension)
	if err != nil {
		return 0, err
	}
	rs := make([]filestorage.GroupRecord, len(recs))
	for i, r := range recs {
		rs[i] = filestorage.GroupRecord{Oid: filestorage.Oid(r.OID), Data: r.Data}
	}
	s.excl.RLock()
	defer s.excl.RUnlock()
	t, err := s.group.Commit(filestorage.TxnMeta{User: meta.User, Description: meta.Description, Extension: extBytes}, rs)
	return t, convErr(err)
}

// SyncGroup implements storage.GroupCommitter.
func (s *Storage) SyncGroup() (tid.TID, error) {
	if s.group == nil {
		return 0, nil
	}
	t, err := s.group.Sync()
	return t, convErr(err)
}

// PublishGroup implements storage.GroupCommitter.
func (s *Storage) PublishGroup(t tid.TID) {
	if s.group != nil {
		s.group.Publish(t)
	}
}

// GroupStats reports the group syncs done (two fsyncs each) and the
// transactions they made durable.
func (s *Storage) GroupStats() (groups, txns int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.Stats()
}

// exclusive takes the exclusive side of excl once the group pipeline is
// empty; the server's committer goroutine empties it. After a failed
// group sync the pipeline never empties: then nothing may be written
// over its transactions, and the storage refuses (Python closes a
// storage whose tpc_finish failed).
func (s *Storage) exclusive() error {
	s.excl.Lock()
	if s.group != nil {
		s.group.Drain()
		if n := s.group.Pending(); n > 0 {
			s.excl.Unlock()
			return &storage.StorageError{Msg: fmt.Sprintf("%s: a group commit failed earlier; %d transactions are neither published nor discarded", s.fs.Path(), n)}
		}
	}
	return nil
}

// convErr maps filestorage errors to the server's.
func convErr(err error) error {
	if err == nil {
		return nil
	}
	var ke *filestorage.KeyError
	var ce *filestorage.ConflictError
	var ue *filestorage.UndoError
	var mue *filestorage.MultipleUndoError
	switch {
	case errors.As(err, &mue):
		return multipleUndoError(mue)
	case errors.As(err, &ke):
		return &storage.POSKeyError{OID: storage.OID(ke.Oid)}
	case errors.As(err, &ce):
		return &storage.ConflictError{OID: storage.OID(ce.Oid), Committed: ce.Committed, Serial: ce.Expected}
	case errors.As(err, &ue):
		e := &storage.UndoError{Msg: ue.Msg}
		if ue.HasOid {
			o := storage.OID(ue.Oid)
			e.OID = &o
		}
		return e
	case errors.Is(err, filestorage.ErrReadOnly):
		return fmt.Errorf("%w: %v", storage.ErrReadOnly, err)
	case errors.Is(err, filestorage.ErrPOSKey):
		return &storage.StorageError{Msg: err.Error()}
	}
	return &storage.StorageError{Msg: err.Error()}
}

func (s *Storage) LoadBefore(oid storage.OID, before tid.TID) ([]byte, tid.TID, tid.TID, bool, error) {
	data, start, end, err := s.fs.LoadBefore(filestorage.Oid(oid), before)
	if errors.Is(err, filestorage.ErrNoRevisionBefore) {
		return nil, 0, 0, false, nil
	}
	if err != nil {
		return nil, 0, 0, false, convErr(err)
	}
	return data, start, end, true, nil
}

func (s *Storage) LoadSerial(oid storage.OID, serial tid.TID) ([]byte, error) {
	d, err := s.fs.LoadSerial(filestorage.Oid(oid), serial)
	if err != nil {
		var ke *filestorage.KeyError
		if errors.As(err, &ke) || errors.Is(err, filestorage.ErrPOSKey) {
			return nil, &storage.POSKeyError{OID: oid, Serial: &serial}
		}
	}
	return d, convErr(err)
}

func (s *Storage) History(oid storage.OID, size int) ([]storage.HistoryEntry, error) {
	h, err := s.fs.History(filestorage.Oid(oid), size)
	if err != nil {
		return nil, convErr(err)
	}
	out := make([]storage.HistoryEntry, len(h))
	for i, e := range h {
		out[i] = storage.HistoryEntry{TID: e.TID, Time: e.Time, User: e.UserName, Description: e.Description,
			Size: int(e.Size), Extension: storage.ExtensionItems(e.Extension)}
	}
	return out, nil
}

func (s *Storage) NewOID() (storage.OID, error) {
	o, err := s.fs.NewOids(1)
	if err != nil {
		return 0, convErr(err)
	}
	return storage.OID(o[0]), nil
}

// Begin encodes the extension as FileStorage keeps it: a protocol-3
// pickle of the dict, or nothing when it is empty (ZODB's rule).
func (s *Storage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	extBytes, err := storage.PickleExtension(meta.Extension)
	if err != nil {
		return nil, err
	}
	m := filestorage.TxnMeta{User: meta.User, Description: meta.Description, Extension: extBytes}
	if err := s.exclusive(); err != nil {
		return nil, err
	}
	unlock := sync.OnceFunc(s.excl.Unlock)
	var x *filestorage.Txn
	if meta.TID != 0 {
		x, err = s.fs.BeginWithTID(m, meta.TID, meta.Status)
	} else {
		x, err = s.fs.Begin(m)
	}
	if err != nil {
		unlock()
		return nil, convErr(err)
	}
	if s.blobs != nil {
		return &blobTxn{txn: &txn{x: x, s: s, unlock: unlock}, dir: s.blobs}, nil
	}
	return &txn{x: x, s: s, unlock: unlock}, nil
}

// Pack packs Data.fs, then removes the blob files of revisions the pack
// dropped.
func (s *Storage) Pack(t tid.TID, gc bool) error {
	if err := s.exclusive(); err != nil {
		return err
	}
	defer s.excl.Unlock()
	if err := s.fs.Pack(t, gc && !s.NoPackGC); err != nil {
		return convErr(err)
	}
	return s.gcBlobs()
}

func (s *Storage) UndoLog(first, last int, filter func(storage.UndoEntry) bool) ([]storage.UndoEntry, error) {
	conv := func(e *filestorage.UndoEntry) storage.UndoEntry {
		return storage.UndoEntry{ID: []byte(e.ID), TID: e.TID, Time: e.Time, User: e.UserName,
			Description: e.Description, Size: int(e.Size), Extension: storage.ExtensionItems(e.Extension)}
	}
	var f func(*filestorage.UndoEntry) bool
	if filter != nil {
		f = func(e *filestorage.UndoEntry) bool { return filter(conv(e)) }
	}
	es, err := s.fs.UndoLog(first, last, f)
	if err != nil {
		return nil, convErr(err)
	}
	out := make([]storage.UndoEntry, len(es))
	for i := range es {
		out[i] = conv(&es[i])
	}
	return out, nil
}

func (s *Storage) Iterate(start, stop tid.TID, fn func(storage.TxnRecord) bool) error {
	it := s.fs.Iterate(start, stop)
	for {
		r, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return convErr(err)
		}
		if !fn(txnRecord(r)) {
			return nil
		}
	}
}

func txnRecord(r *filestorage.TxnRecord) storage.TxnRecord {
	tr := storage.TxnRecord{TID: r.TID, Status: r.Status, User: r.User, Description: r.Description, Extension: storage.ExtensionItems(r.Extension)}
	for _, d := range r.Records {
		tr.Records = append(tr.Records, storage.DataRecord{OID: storage.OID(d.Oid), TID: d.TID, Data: d.Data, DataTxn: d.DataTID})
	}
	return tr
}

func (s *Storage) RecordIternext(next storage.OID) (storage.OID, tid.TID, []byte, storage.OID, bool, error) {
	oid, serial, data, ok, err := s.fs.NextOid(filestorage.Oid(next))
	if err != nil {
		return 0, 0, nil, 0, false, convErr(err)
	}
	if !ok {
		return 0, 0, nil, 0, false, &storage.POSKeyError{OID: next}
	}
	nextOID, _, _, more, err := s.fs.NextOid(oid + 1)
	if err != nil {
		return 0, 0, nil, 0, false, convErr(err)
	}
	return storage.OID(oid), serial, data, storage.OID(nextOID), more, nil
}

// LastInvalidations reads only the tail: UndoLog walks back from the end
// to find the tids, then the iterator reads those transactions' headers.
func (s *Storage) LastInvalidations(n int) ([]storage.Invalidation, error) {
	es, err := s.fs.UndoLog(0, n, nil)
	if err != nil || len(es) == 0 {
		return nil, convErr(err)
	}
	start := es[len(es)-1].TID
	it := s.fs.Iterate(start, 0)
	it.SkipData()
	var out []storage.Invalidation
	for {
		r, err := it.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, convErr(err)
		}
		inv := storage.Invalidation{TID: r.TID}
		for _, d := range r.Records {
			inv.OIDs = append(inv.OIDs, storage.OID(d.Oid))
		}
		out = append(out, inv)
	}
}

type txn struct {
	x      *filestorage.Txn
	s      *Storage
	unlock func() // releases s.excl (once)
}

func (t *txn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	return convErr(t.x.Store(filestorage.Oid(oid), serial, data))
}

// Restore copies a record without a conflict check (copyTransactionsFrom,
// zodbconvert): it stores against whatever is committed now. The
// prev_txn backpointer hint is not used, so the data is written out
// again; a nil data (an undone creation) becomes a deletion record.
func (t *txn) Restore(oid storage.OID, serial tid.TID, data []byte, prevTxn tid.TID) error {
	cur, err := t.s.fs.GetTid(filestorage.Oid(oid))
	exists := err == nil
	if err != nil {
		var ke *filestorage.KeyError
		if !errors.As(err, &ke) && !errors.Is(err, filestorage.ErrPOSKey) {
			return convErr(err)
		}
		cur = 0
	}
	if data == nil {
		if !exists {
			return nil
		}
		return convErr(t.x.DeleteObject(filestorage.Oid(oid), cur))
	}
	return convErr(t.x.Store(filestorage.Oid(oid), cur, data))
}

func (t *txn) Delete(oid storage.OID, serial tid.TID) error {
	return convErr(t.x.DeleteObject(filestorage.Oid(oid), serial))
}

func (t *txn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	err := t.x.CheckCurrentSerial(filestorage.Oid(oid), serial)
	var ce *filestorage.ConflictError
	if errors.As(err, &ce) {
		return &storage.ConflictError{OID: oid, Committed: ce.Committed, Serial: ce.Expected, Read: true}
	}
	return convErr(err)
}

func (t *txn) Undo(undoID []byte) ([]storage.OID, error) {
	oids, err := t.x.Undo(string(undoID))
	if err != nil {
		return nil, convErr(err)
	}
	out := make([]storage.OID, len(oids))
	for i, o := range oids {
		out[i] = storage.OID(o)
	}
	return out, nil
}

func (t *txn) Vote() error { return convErr(t.x.Vote()) }

func (t *txn) Finish() (tid.TID, error) {
	defer t.unlock()
	n, err := t.x.Finish()
	return n, convErr(err)
}

func (t *txn) Abort() {
	t.x.Abort()
	t.unlock()
}
