package filestorage

import (
	"io"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Record is one data record as ZODB's FileIterator yields it: Data is
// resolved through backpointers (nil for "no data"), and DataTID is the
// tid of the record a backpointer points at directly (0 otherwise,
// Python's data_txn None).
type Record struct {
	DataHeader
	Data    []byte
	DataTID tid.TID
}

// TxnRecord is one transaction with its records.
type TxnRecord struct {
	TxnHeader
	Records []Record
}

// Iterator walks transactions in file order (ZODB's FileIterator).
type Iterator struct {
	r           *reader
	rr          *reader // unbuffered, for backpointers (random access)
	pos         int64
	start, stop tid.TID
	noData      bool
}

// Iterate returns an iterator over the finished transactions with
// start <= tid <= stop (both inclusive; stop 0 means no upper bound).
// It sees the transactions finished when it was created. 'u'
// transactions are skipped (Python's FileIterator mishandles them).
func (s *FileStorage) Iterate(start, stop tid.TID) *Iterator {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if stop == 0 {
		stop = tid.TID(1<<64 - 1)
	}
	it := &Iterator{r: newReader(s.f, s.path, s.pos, 1<<20), rr: newReader(s.f, s.path, s.pos, 0), pos: magicLen, start: start, stop: stop}
	if start > s.ltid {
		it.pos = s.pos
	} else if start > 0 && s.pos > magicLen {
		it.pos = s.seekTID(start)
	}
	return it
}

// seekTID returns the position of the first transaction with tid >=
// start, or a position before it. Like FileIterator it guesses from the
// timestamps whether start is nearer the end, and then walks back
// through the redundant lengths (reading 31 bytes per transaction)
// instead of forward from the beginning. Any problem on the way back
// falls back to a forward scan from the start of the file.
func (s *FileStorage) seekTID(start tid.TID) int64 {
	r := newReader(s.f, s.path, s.pos, 0)
	first, err := r.at(magicLen, 8)
	if err != nil {
		return magicLen
	}
	ft := tid.FromBytes(first).TimeTime()
	lt, st := s.ltid.TimeTime(), start.TimeTime()
	if st-ft < lt-st {
		return magicLen // nearer the beginning: scan forward
	}
	pos := s.pos
	for pos > magicLen {
		tl, err := r.redundantLen(pos)
		if err != nil || pos-tl-8 < magicLen {
			return magicLen
		}
		b, err := r.at(pos-tl-8, 8)
		if err != nil {
			return magicLen
		}
		if tid.FromBytes(b) < start {
			return pos
		}
		pos -= tl + 8
	}
	return magicLen
}

// Invalidation is one transaction's tid and the oids it wrote.
type Invalidation struct {
	TID  tid.TID
	Oids []Oid
}

// LastInvalidations returns the oids written by the last n transactions,
// oldest first (lastInvalidations, which ZEO uses to fill its
// invalidation queue at start-up).
func (s *FileStorage) LastInvalidations(n int) ([]Invalidation, error) {
	s.mu.RLock()
	end := s.pos
	s.mu.RUnlock()
	r := newReader(s.f, s.path, end, 0)
	var out []Invalidation
	pos := end
	for len(out) < n && pos > magicLen {
		tl, err := r.redundantLen(pos)
		if err != nil {
			return nil, err
		}
		pos -= tl + 8
		h, err := r.readTxnHeader(pos)
		if err != nil {
			return nil, err
		}
		if h.Status == StatusUndone {
			continue
		}
		inv := Invalidation{TID: h.TID}
		seen := map[Oid]bool{}
		for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
			d, err := r.readDataHeader(dp, de)
			if err != nil {
				return nil, err
			}
			if !seen[d.Oid] {
				seen[d.Oid] = true
				inv.Oids = append(inv.Oids, d.Oid)
			}
			dp += d.RecordLen()
		}
		out = append(out, inv)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// SkipData makes Next leave Record.Data nil (headers only: faster).
func (it *Iterator) SkipData() { it.noData = true }

// Next returns the next transaction, or io.EOF after the last one.
func (it *Iterator) Next() (*TxnRecord, error) {
	r := it.r
	for {
		if it.pos >= r.size {
			return nil, io.EOF
		}
		h, err := r.readTxnHeader(it.pos)
		if err != nil {
			return nil, err
		}
		if h.Next() > r.size {
			return nil, r.corrupt(h.Pos, "transaction length", "tlen %d runs past the end of the data at %d", h.Len, r.size)
		}
		if h.Status == StatusCheckpoint {
			return nil, io.EOF // only possible at the end; readers stop there
		}
		if err := r.checkTxnEnd(&h); err != nil {
			return nil, err
		}
		it.pos = h.Next()
		if h.TID > it.stop {
			return nil, io.EOF
		}
		if h.TID < it.start || h.Status == StatusUndone {
			continue
		}
		t := &TxnRecord{TxnHeader: h}
		for p, end := h.DataPos(), h.DataEnd(); p < end; {
			d, err := r.readDataHeader(p, end)
			if err != nil {
				return nil, err
			}
			if d.TxnPos != h.Pos {
				return nil, r.corrupt(p, "tloc", "transaction pointer %d, want %d", d.TxnPos, h.Pos)
			}
			rec := Record{DataHeader: d}
			if !it.noData {
				if d.DataLen > 0 {
					rec.Data, err = r.readData(&d)
				} else if d.Back != 0 {
					rec.Data, rec.DataTID, err = it.rr.loadBack(d.Oid, d.Back)
				}
				if err != nil {
					return nil, err
				}
			}
			t.Records = append(t.Records, rec)
			p += d.RecordLen()
		}
		return t, nil
	}
}
