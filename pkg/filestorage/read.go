package filestorage

import (
	"encoding/base64"
	"fmt"

	"github.com/zdkit/zdkit/pkg/tid"
)

// rlock takes the read lock and returns a pread reader limited to the
// committed end of the file, so an in-progress ('c') transaction is never
// seen. The caller must s.mu.RUnlock.
func (s *FileStorage) rlock() (*reader, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	// A small window: one pread fetches the header and, for most
	// objects, the pickle too.
	return newReader(s.f, s.path, s.pos, 512), nil
}

func (s *FileStorage) lookup(r *reader, oid Oid) (DataHeader, error) {
	pos, ok := s.index.Get(oid)
	if !ok {
		return DataHeader{}, &KeyError{Oid: oid}
	}
	return s.readRecord(r, oid, pos)
}

func (s *FileStorage) readRecord(r *reader, oid Oid, pos int64) (DataHeader, error) {
	h, err := r.readDataHeader(pos, r.size)
	if err != nil {
		return h, err
	}
	if h.Oid != oid {
		return h, r.corrupt(pos, "oid", "record holds oid %s, want %s", h.Oid.Repr(), oid.Repr())
	}
	return h, nil
}

// dataOf resolves a record's pickle; nil data means "no data" (back 0).
func (s *FileStorage) dataOf(r *reader, h *DataHeader) ([]byte, error) {
	if h.DataLen > 0 {
		return r.readData(h)
	}
	d, _, err := r.loadBack(h.Oid, h.Back)
	return d, err
}

// Load returns the current pickle of oid and its serial (ZODB load).
// An unknown oid, or one whose current record has no data, gives a
// *KeyError (errors.Is(err, ErrPOSKey)).
func (s *FileStorage) Load(oid Oid) ([]byte, tid.TID, error) {
	r, err := s.rlock()
	if err != nil {
		return nil, 0, err
	}
	defer s.mu.RUnlock()
	h, err := s.lookup(r, oid)
	if err != nil {
		return nil, 0, err
	}
	d, err := s.dataOf(r, &h)
	if err != nil {
		return nil, 0, err
	}
	if d == nil {
		return nil, 0, &KeyError{Oid: oid, Deleted: true}
	}
	return d, h.TID, nil
}

// LoadBefore is ZODB loadBefore(oid, before): the revision current just
// before the tid before, with its start tid and end tid (the next
// revision's tid; 0 when it is the current revision, Python's None).
// It returns ErrNoRevisionBefore when the object had no revision before
// (Python returns None) and a *KeyError for an unknown oid or a revision
// without data (deletion, undone creation), as Python does.
func (s *FileStorage) LoadBefore(oid Oid, before tid.TID) (data []byte, start, end tid.TID, err error) {
	r, err := s.rlock()
	if err != nil {
		return nil, 0, 0, err
	}
	defer s.mu.RUnlock()
	h, err := s.lookup(r, oid)
	if err != nil {
		return nil, 0, 0, err
	}
	for h.TID >= before {
		end = h.TID
		if h.Prev == 0 {
			return nil, 0, 0, fmt.Errorf("oid %s before %s: %w", oid.Repr(), before.Repr(), ErrNoRevisionBefore)
		}
		if h, err = s.readRecord(r, oid, h.Prev); err != nil {
			return nil, 0, 0, err
		}
	}
	d, err := s.dataOf(r, &h)
	if err != nil {
		return nil, 0, 0, err
	}
	if d == nil {
		return nil, 0, 0, &KeyError{Oid: oid, Deleted: true}
	}
	return d, h.TID, end, nil
}

// LoadSerial returns the pickle of oid's revision serial.
func (s *FileStorage) LoadSerial(oid Oid, serial tid.TID) ([]byte, error) {
	r, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	h, err := s.lookup(r, oid)
	if err != nil {
		return nil, err
	}
	for h.TID != serial {
		if h.Prev == 0 || h.TID < serial {
			return nil, &KeyError{Oid: oid}
		}
		if h, err = s.readRecord(r, oid, h.Prev); err != nil {
			return nil, err
		}
	}
	d, err := s.dataOf(r, &h)
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, &KeyError{Oid: oid, Deleted: true}
	}
	return d, nil
}

// GetTid returns the serial of oid's current revision (ZODB getTid).
func (s *FileStorage) GetTid(oid Oid) (tid.TID, error) {
	r, err := s.rlock()
	if err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	h, err := s.lookup(r, oid)
	if err != nil {
		return 0, err
	}
	if h.DataLen == 0 && h.Back == 0 {
		return 0, &KeyError{Oid: oid, Deleted: true}
	}
	return h.TID, nil
}

// HistoryEntry is one dict of ZODB's history(): Size is plen, so 0 for
// backpointer and deletion records. Extension holds the raw extension
// pickle; Python merges its keys under the standard ones.
type HistoryEntry struct {
	TID         tid.TID
	Time        float64
	UserName    []byte
	Description []byte
	Size        int64
	Extension   []byte
}

// History returns up to size revisions of oid, newest first.
func (s *FileStorage) History(oid Oid, size int) ([]HistoryEntry, error) {
	r, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	h, err := s.lookup(r, oid)
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	for len(out) < size {
		th, err := r.readTxnHeader(h.TxnPos)
		if err != nil {
			return nil, err
		}
		out = append(out, HistoryEntry{TID: h.TID, Time: h.TID.TimeTime(), UserName: th.User,
			Description: th.Description, Size: h.DataLen, Extension: th.Extension})
		if h.Prev == 0 {
			break
		}
		if h, err = s.readRecord(r, oid, h.Prev); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LastTransaction is the tid of the last finished transaction (z64 when
// the storage is empty).
func (s *FileStorage) LastTransaction() tid.TID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ltid
}

// Len is len(storage): oids in the index, deleted ones included.
func (s *FileStorage) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index.Len()
}

// Size is getSize(): the end of the committed data.
func (s *FileStorage) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pos
}

// MaxOid is the largest oid stored or handed out so far.
func (s *FileStorage) MaxOid() Oid {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.maxOid
}

// Magic is the file's magic ("FS30" or "FS21").
func (s *FileStorage) Magic() string { return s.magic }

// IsReadOnly reports a read-only open.
func (s *FileStorage) IsReadOnly() bool { return s.ro }

// NewOids hands out n fresh oids above any oid ever stored or handed out
// (new_oid; ZEO's new_oids). The counter is not persisted: after a
// restart it restarts from the index's largest key, as in Python.
func (s *FileStorage) NewOids(n int) ([]Oid, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.ro {
		return nil, ErrReadOnly
	}
	out := make([]Oid, n)
	for i := range out {
		s.maxOid++
		out[i] = s.maxOid
	}
	return out, nil
}

// NextOid is record_iternext's walk: the current record of the smallest
// oid >= from, with ok false past the last oid. Deleted objects are
// returned with nil data.
func (s *FileStorage) NextOid(from Oid) (oid Oid, serial tid.TID, data []byte, ok bool, err error) {
	r, err := s.rlock()
	if err != nil {
		return 0, 0, nil, false, err
	}
	defer s.mu.RUnlock()
	oid, pos, ok := s.index.Ceil(from)
	if !ok {
		return 0, 0, nil, false, nil
	}
	h, err := s.readRecord(r, oid, pos)
	if err != nil {
		return 0, 0, nil, false, err
	}
	data, err = s.dataOf(r, &h)
	return oid, h.TID, data, true, err
}

// UndoEntry is one dict of undoLog()/undoInfo(). ID is the standard
// base64 of the tid without the trailing newline, as Python makes it.
type UndoEntry struct {
	ID          string
	TID         tid.TID
	Time        float64
	UserName    []byte
	Description []byte
	Size        int64 // tlen
	Extension   []byte
}

// UndoID encodes a tid as an undo id.
func UndoID(t tid.TID) string {
	b := t.Bytes()
	return base64.StdEncoding.EncodeToString(b[:])
}

// ParseUndoID decodes an undo id.
func ParseUndoID(id string) (tid.TID, error) {
	b, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(b) != 8 {
		return 0, &UndoError{Msg: fmt.Sprintf("invalid transaction id %q", id)}
	}
	return tid.FromBytes(b), nil
}

// UndoLog is undoLog(first, last, filter) with Python's rules: a negative
// last means "-last entries" (last = first - last); the walk goes back
// from the end, stops at the first packed ('p') transaction, skips
// anything that is not ' ', and keeps entries [first:last] of those the
// filter accepts. UndoInfo is the same call in ZEO.
func (s *FileStorage) UndoLog(first, last int, filter func(*UndoEntry) bool) ([]UndoEntry, error) {
	if last < 0 {
		last = first - last
	}
	r, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if s.packing {
		return nil, &UndoError{Msg: "Undo is currently disabled for database maintenance.<p>"}
	}
	var out []UndoEntry
	pos, i := s.pos, 0
	for i < last && pos > 39 {
		tl, err := r.redundantLen(pos)
		if err != nil {
			return nil, err
		}
		pos -= tl + 8
		h, err := r.readTxnHeader(pos)
		if err != nil {
			return nil, err
		}
		if h.Status == StatusPacked {
			break
		}
		if h.Status != StatusNormal {
			continue
		}
		e := UndoEntry{ID: UndoID(h.TID), TID: h.TID, Time: h.TID.TimeTime(), UserName: h.User,
			Description: h.Description, Size: h.Len, Extension: h.Extension}
		if filter == nil || filter(&e) {
			if i >= first {
				out = append(out, e)
			}
			i++
		}
	}
	return out, nil
}

// UndoInfo is undoInfo(first, last, specification): UndoLog without a
// filter (ZEO clients call it with a spec dict the server matches).
func (s *FileStorage) UndoInfo(first, last int) ([]UndoEntry, error) {
	return s.UndoLog(first, last, nil)
}
