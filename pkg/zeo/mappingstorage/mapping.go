package mappingstorage

import (
	"fmt"
	"sort"
	"sync"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

type revision struct {
	tid  tid.TID
	data []byte // nil: deleted
}

// Storage is an in-memory storage.Storage.
type Storage struct {
	name     string
	readOnly bool

	mu   sync.RWMutex
	revs map[storage.OID][]revision // ascending tid
	txns []storage.TxnRecord        // ascending tid
	last tid.TID
	// lastOID is the highest oid handed out or stored; oid 0 is the
	// root's, so the first new oid is 1 (MappingStorage.new_oid).
	lastOID storage.OID
	size    int64
	// live counts the oids whose newest revision is not a deletion, kept
	// up to date by Finish and Pack so that Len (asked by the server at
	// every tpc_finish for the info message) costs O(1), not a walk of
	// the whole map.
	live   int
	closed bool
	// lastPack is the time of the last pack (MappingStorage._last_pack).
	lastPack tid.TID
}

var (
	_ storage.Storage            = (*Storage)(nil)
	_ storage.Iterator           = (*Storage)(nil)
	_ storage.RecordIterator     = (*Storage)(nil)
	_ storage.InvalidationSource = (*Storage)(nil)
)

// New returns an empty storage. name defaults to "Mapping Storage", the
// default of ZODB's <mappingstorage> section. A new storage stays empty:
// no root object is written (the first client's ZODB.DB creates it).
func New(name string, readOnly bool) *Storage {
	if name == "" {
		name = "Mapping Storage"
	}
	return &Storage{name: name, readOnly: readOnly, revs: map[storage.OID][]revision{}}
}

// Info implements storage.Storage.
func (s *Storage) Info() storage.Info {
	return storage.Info{
		Name:                   s.name,
		SupportsUndo:           false,
		SupportsRecordIternext: true,
		ReadOnly:               s.readOnly,
		Interfaces: []storage.Interface{
			{Module: "ZODB.interfaces", Name: "IStorageIteration"},
			{Module: "ZODB.interfaces", Name: "IStorageCurrentRecordIteration"},
			{Module: "ZODB.interfaces", Name: "IExternalGC"},
			{Module: "ZODB.interfaces", Name: "IStorage"},
			{Module: "zope.interface", Name: "Interface"},
		},
	}
}

// Len counts objects whose current revision is not a deletion.
func (s *Storage) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.live
}

// Size is the total size of all kept revisions.
func (s *Storage) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// LastTransaction implements storage.Storage.
func (s *Storage) LastTransaction() tid.TID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// LoadBefore implements storage.Storage.
func (s *Storage) LoadBefore(oid storage.OID, before tid.TID) ([]byte, tid.TID, tid.TID, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	revs := s.revs[oid]
	if len(revs) == 0 || revs[len(revs)-1].data == nil {
		return nil, 0, 0, false, &storage.POSKeyError{OID: oid}
	}
	i := sort.Search(len(revs), func(i int) bool { return revs[i].tid >= before })
	if i == 0 {
		return nil, 0, 0, false, nil
	}
	r := revs[i-1]
	if r.data == nil {
		return nil, 0, 0, false, &storage.POSKeyError{OID: oid}
	}
	var end tid.TID
	if i < len(revs) {
		end = revs[i].tid
	}
	return r.data, r.tid, end, true, nil
}

// LoadSerial implements storage.Storage.
func (s *Storage) LoadSerial(oid storage.OID, serial tid.TID) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.revs[oid] {
		if r.tid == serial && r.data != nil {
			return r.data, nil
		}
	}
	return nil, &storage.POSKeyError{OID: oid, Serial: &serial}
}

// History implements storage.Storage.
func (s *Storage) History(oid storage.OID, size int) ([]storage.HistoryEntry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	revs := s.revs[oid]
	if len(revs) == 0 {
		return nil, &storage.POSKeyError{OID: oid}
	}
	if size < 1 {
		size = 1
	}
	var out []storage.HistoryEntry
	for i := len(revs) - 1; i >= 0 && len(out) < size; i-- {
		r := revs[i]
		e := storage.HistoryEntry{TID: r.tid, Time: r.tid.TimeTime(), Size: len(r.data)}
		if t := s.txn(r.tid); t != nil {
			e.User, e.Description, e.Extension = t.User, t.Description, t.Extension
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Storage) txn(t tid.TID) *storage.TxnRecord {
	i := sort.Search(len(s.txns), func(i int) bool { return s.txns[i].TID >= t })
	if i < len(s.txns) && s.txns[i].TID == t {
		return &s.txns[i]
	}
	return nil
}

// NewOID implements storage.Storage.
func (s *Storage) NewOID() (storage.OID, error) {
	if s.readOnly {
		return 0, storage.ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastOID++
	return s.lastOID, nil
}

// Begin implements storage.Storage.
func (s *Storage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	if s.readOnly {
		return nil, storage.ErrReadOnly
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, storage.ErrClosed
	}
	return &txn{s: s, meta: meta, index: map[storage.OID]int{}}, nil
}

// Pack follows ZODB 6.3's MappingStorage.pack: packing to the time of an
// earlier pack is refused, to the same time does nothing; then every
// object keeps only its newest revision at or before t and what came
// after (an object deleted as of t goes entirely), and with gc a sweep
// from the root (oid 0) along the records' strong references
// (referencesf: weak and cross-database references are not followed)
// drops every object it does not reach. A transaction that loses records
// gets status 'p' and goes when it has none left.
func (s *Storage) Pack(t tid.TID, gc bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.revs) == 0 {
		return nil
	}
	if s.lastPack != 0 && s.lastPack >= t {
		if s.lastPack == t {
			return nil
		}
		return fmt.Errorf("%w: Already packed to a later time", storage.ErrBadArgument)
	}
	s.lastPack = t
	dropped := map[storage.OID]map[tid.TID]bool{}
	drop := func(oid storage.OID, revs []revision) {
		d := dropped[oid]
		if d == nil {
			d = map[tid.TID]bool{}
			dropped[oid] = d
		}
		for _, r := range revs {
			d[r.tid] = true
			s.size -= int64(len(r.data))
		}
	}
	for oid, revs := range s.revs {
		i := sort.Search(len(revs), func(i int) bool { return revs[i].tid > t })
		keepFrom := i - 1
		if keepFrom < 0 {
			continue
		}
		if revs[keepFrom].data == nil { // deleted as of t: drop it entirely
			keepFrom++
		}
		if keepFrom == 0 {
			continue
		}
		drop(oid, revs[:keepFrom])
		if keepFrom == len(revs) {
			delete(s.revs, oid)
		} else {
			s.revs[oid] = append([]revision(nil), revs[keepFrom:]...)
		}
	}
	if gc {
		reached := map[storage.OID]bool{}
		todo := []storage.OID{0}
		for len(todo) > 0 {
			oid := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			revs, ok := s.revs[oid]
			if !ok || reached[oid] {
				continue
			}
			reached[oid] = true
			for _, r := range revs {
				// A record that does not parse keeps what was read
				// before the error reachable.
				refs, _ := zodbpickle.References(r.data)
				for _, ref := range refs {
					if !reached[storage.OID(ref)] {
						todo = append(todo, storage.OID(ref))
					}
				}
			}
		}
		for oid, revs := range s.revs {
			if !reached[oid] {
				drop(oid, revs)
				delete(s.revs, oid)
			}
		}
	}
	kept := s.txns[:0]
	for _, tr := range s.txns {
		recs := tr.Records[:0]
		for _, r := range tr.Records {
			if !dropped[r.OID][r.TID] {
				recs = append(recs, r)
			}
		}
		lost := len(recs) < len(tr.Records)
		tr.Records = recs
		if lost {
			tr.Status = 'p'
			if len(recs) == 0 {
				continue
			}
		}
		kept = append(kept, tr)
	}
	s.txns = kept
	// Pack walks everything anyway: recount the live objects rather than
	// follow each way GC and old revisions can remove one.
	s.live = 0
	for _, revs := range s.revs {
		if revs[len(revs)-1].data != nil {
			s.live++
		}
	}
	return nil
}

// Close implements storage.Storage.
func (s *Storage) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Iterate implements storage.Iterator.
func (s *Storage) Iterate(start, stop tid.TID, fn func(storage.TxnRecord) bool) error {
	s.mu.RLock()
	txns := append([]storage.TxnRecord(nil), s.txns...)
	s.mu.RUnlock()
	for _, t := range txns {
		if t.TID < start || (stop != 0 && t.TID > stop) {
			continue
		}
		if !fn(t) {
			break
		}
	}
	return nil
}

// RecordIternext implements storage.RecordIterator.
func (s *Storage) RecordIternext(next storage.OID) (storage.OID, tid.TID, []byte, storage.OID, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var oids []storage.OID
	for o, r := range s.revs {
		if o >= next && r[len(r)-1].data != nil {
			oids = append(oids, o)
		}
	}
	if len(oids) == 0 {
		return 0, 0, nil, 0, false, &storage.POSKeyError{OID: next}
	}
	sort.Slice(oids, func(i, j int) bool { return oids[i] < oids[j] })
	r := s.revs[oids[0]]
	cur := r[len(r)-1]
	if len(oids) > 1 {
		return oids[0], cur.tid, cur.data, oids[1], true, nil
	}
	return oids[0], cur.tid, cur.data, 0, false, nil
}

// LastInvalidations implements storage.InvalidationSource.
func (s *Storage) LastInvalidations(n int) ([]storage.Invalidation, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	from := max(0, len(s.txns)-n)
	var out []storage.Invalidation
	for _, t := range s.txns[from:] {
		inv := storage.Invalidation{TID: t.TID}
		for _, r := range t.Records {
			inv.OIDs = append(inv.OIDs, r.OID)
		}
		out = append(out, inv)
	}
	return out, nil
}

// txn is one storage-level transaction. Nothing is visible before Finish.
type txn struct {
	s       *Storage
	meta    storage.TxnMeta
	records []storage.DataRecord
	index   map[storage.OID]int
	done    bool
}

func (t *txn) current(oid storage.OID) tid.TID {
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	revs := t.s.revs[oid]
	if len(revs) == 0 {
		return 0
	}
	return revs[len(revs)-1].tid
}

func (t *txn) put(r storage.DataRecord) {
	if i, ok := t.index[r.OID]; ok {
		t.records[i] = r
		return
	}
	t.index[r.OID] = len(t.records)
	t.records = append(t.records, r)
}

func (t *txn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	if cur := t.current(oid); cur != serial {
		return &storage.ConflictError{OID: oid, Committed: cur, Serial: serial}
	}
	t.put(storage.DataRecord{OID: oid, Data: append([]byte{}, data...)})
	return nil
}

func (t *txn) Restore(oid storage.OID, serial tid.TID, data []byte, prevTxn tid.TID) error {
	var d []byte
	if data != nil {
		d = append([]byte{}, data...)
	}
	t.put(storage.DataRecord{OID: oid, Data: d})
	return nil
}

func (t *txn) Delete(oid storage.OID, serial tid.TID) error {
	cur := t.current(oid)
	if cur == 0 {
		return &storage.POSKeyError{OID: oid}
	}
	if cur != serial {
		return &storage.ConflictError{OID: oid, Committed: cur, Serial: serial}
	}
	t.put(storage.DataRecord{OID: oid, Data: nil})
	return nil
}

func (t *txn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	if cur := t.current(oid); cur != serial {
		return &storage.ConflictError{OID: oid, Committed: cur, Serial: serial, Read: true}
	}
	return nil
}

func (t *txn) Undo(undoID []byte) ([]storage.OID, error) {
	return nil, storage.ErrUndoUnsupported
}

func (t *txn) Vote() error { return nil }

func (t *txn) Finish() (tid.TID, error) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.done {
		return 0, &storage.StorageError{Msg: "transaction already finished"}
	}
	t.done = true
	newTid := t.meta.TID
	if newTid == 0 || newTid <= s.last {
		newTid = tid.Now().LaterThan(s.last)
	}
	rec := storage.TxnRecord{TID: newTid, Status: ' ', User: t.meta.User, Description: t.meta.Description, Extension: t.meta.Extension}
	if t.meta.Status != 0 {
		rec.Status = t.meta.Status
	}
	for _, r := range t.records {
		r.TID = newTid
		revs := s.revs[r.OID]
		wasLive := len(revs) > 0 && revs[len(revs)-1].data != nil
		if isLive := r.Data != nil; isLive != wasLive {
			if isLive {
				s.live++
			} else {
				s.live--
			}
		}
		s.revs[r.OID] = append(revs, revision{tid: newTid, data: r.Data})
		s.size += int64(len(r.Data))
		if r.OID > s.lastOID {
			s.lastOID = r.OID
		}
		rec.Records = append(rec.Records, r)
	}
	s.txns = append(s.txns, rec)
	s.last = newTid
	return newTid, nil
}

func (t *txn) Abort() { t.done = true }
