package filestorage

import (
	"errors"
	"os"
	"sort"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Undo writes records that reverse the transaction undoID (the base64
// id from UndoLog) and returns the oids it touched (ZODB 6.3 FileStorage.undo).
// Each record normally becomes a backpointer to the revision before the
// undone one (0 for an undone creation). When a later transaction
// changed the object to different data, Python would try application
// conflict resolution; a server never runs application code, so that is
// an *UndoError here.
func (x *Txn) Undo(undoID string) ([]Oid, error) {
	if err := x.check(); err != nil {
		return nil, err
	}
	target, err := ParseUndoID(undoID)
	if err != nil {
		return nil, err
	}
	s := x.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	r := newReader(s.f, s.path, s.pos, 0)
	// _txn_find: walk back from the end, stopping at a packed txn.
	pos := s.pos
	var th TxnHeader
	found := false
	for pos > 39 {
		tl, err := r.redundantLen(pos)
		if err != nil {
			return nil, err
		}
		pos -= tl + 8
		if th, err = r.readTxnHeader(pos); err != nil {
			return nil, err
		}
		if th.TID == target {
			found = true
			break
		}
		if th.Status == StatusPacked {
			break
		}
	}
	if !found {
		return nil, &UndoError{Msg: "Invalid transaction id"}
	}
	if th.Status != StatusNormal {
		return nil, &UndoError{Msg: "non-undoable transaction"}
	}
	type rec struct {
		oid        Oid
		prev, back int64
	}
	var recs []rec
	failures := map[Oid]error{}
	failSeq := map[Oid]int64{} // record position of the last failure; Python's dict order: a re-added key goes last
	seen := map[Oid]bool{}
	var order []Oid
	for p, end := th.DataPos(), th.DataEnd(); p < end; {
		h, err := r.readDataHeader(p, end)
		if err != nil {
			return nil, err
		}
		delete(failures, h.Oid) // second chance, as Python gives
		back, err := x.undoRecord(r, h.Oid, p, h.Prev)
		if err != nil {
			failures[h.Oid] = err
			failSeq[h.Oid] = p
		} else {
			recs = append(recs, rec{h.Oid, 0, back})
			if !seen[h.Oid] {
				seen[h.Oid] = true
				order = append(order, h.Oid)
			}
		}
		p += h.RecordLen()
	}
	if len(failures) > 0 {
		oids := make([]Oid, 0, len(failures))
		for o := range failures {
			oids = append(oids, o)
		}
		sort.Slice(oids, func(i, j int) bool { return failSeq[oids[i]] < failSeq[oids[j]] })
		multi := &MultipleUndoError{}
		for _, o := range oids {
			var ue *UndoError
			if !errors.As(failures[o], &ue) {
				return nil, failures[o] // Python catches only UndoError
			}
			multi.Errs = append(multi.Errs, ue)
		}
		return nil, multi
	}
	for _, rc := range recs {
		if s.blobs != nil && rc.back != 0 {
			// Undoing a blob change: the blob file is named after the
			// undo transaction's tid, so copy the old one (ZODB 6.3 blob.BlobStorageMixin.undo).
			data, serial, err := dataAndTID(r, rc.oid, rc.back)
			if err == nil && data != nil && IsBlobRecord(data) {
				src := s.blobs.filename(rc.oid, serial)
				if _, err := os.Stat(src); err == nil {
					if err := x.placeBlob(rc.oid, src, false); err != nil {
						return nil, err
					}
				}
			}
		}
		prev, _ := s.index.Get(rc.oid) // committed position (ipos)
		x.add(rc.oid, prev, nil, rc.back)
	}
	return order, nil
}

// undoRecord is _transactionalUndoRecord: the backpointer to write for
// undoing the record at pos (oid, prev pre).
func (x *Txn) undoRecord(r *reader, oid Oid, pos, pre int64) (int64, error) {
	s := x.s
	ipos, _ := s.index.Get(oid)
	trec, inTxn := x.lookup(oid)
	tpos := trec.pos
	cur := ipos
	if inTxn {
		cur = tpos
	}
	if cur != pos {
		// A later transaction (or this one) wrote the object: the undo
		// is only safe if the current data is the data being undone.
		var cdataptr int64
		if inTxn {
			if trec.plen > 0 {
				cdataptr = tpos
			} else {
				cdataptr = trec.back
			}
		} else {
			h, err := s.readRecord(r, oid, ipos)
			if err != nil {
				return 0, err
			}
			if h.DataLen > 0 {
				cdataptr = ipos
			} else {
				cdataptr = h.Back
			}
		}
		if cdataptr != pos {
			differ := cdataptr == cur // the current record wrote a new pickle
			if !differ {
				a, errA := dataPos(r, oid, pos)
				b, errB := dataPos(r, oid, cdataptr)
				if errA != nil || errB != nil {
					return 0, &UndoError{Oid: oid, HasOid: true, Msg: "_loadBack() failed"}
				}
				differ = a != b
			}
			if differ {
				if pre != 0 && !inTxn {
					// Python tries conflict resolution here.
					return 0, &UndoError{Oid: oid, HasOid: true, Msg: "Some data were modified by a later transaction"}
				}
				return 0, &UndoError{Oid: oid, HasOid: true, Msg: "no previous record"}
			}
		}
	}
	return pre, nil
}

var errNoData = errors.New("no data")

// dataPos is _loadBackPOS: the position of the record holding the data
// reached from pos through backpointers.
func dataPos(r *reader, oid Oid, pos int64) (int64, error) {
	for pos != 0 {
		h, err := r.readDataHeader(pos, r.size)
		if err != nil {
			return 0, err
		}
		if h.Oid != oid {
			return 0, r.corrupt(pos, "backpointer", "points at oid %s, not %s", h.Oid.Repr(), oid.Repr())
		}
		if h.DataLen > 0 {
			return pos, nil
		}
		pos = h.Back
	}
	return 0, errNoData
}

// dataAndTID follows backpointers from pos to the record holding data
// and returns that data and that record's tid (_loadBackTxn).
func dataAndTID(r *reader, oid Oid, pos int64) ([]byte, tid.TID, error) {
	for pos != 0 {
		h, err := r.readDataHeader(pos, r.size)
		if err != nil {
			return nil, 0, err
		}
		if h.Oid != oid {
			return nil, 0, r.corrupt(pos, "backpointer", "points at oid %s, not %s", h.Oid.Repr(), oid.Repr())
		}
		if h.DataLen > 0 {
			d, err := r.readData(&h)
			return d, h.TID, err
		}
		if h.Back == 0 {
			return nil, h.TID, nil
		}
		pos = h.Back
	}
	return nil, 0, nil
}
