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
// transactions are skipped (Python mishandles them, spec §7).
func (s *FileStorage) Iterate(start, stop tid.TID) *Iterator {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if stop == 0 {
		stop = tid.TID(1<<64 - 1)
	}
	return &Iterator{r: newReader(s.f, s.path, s.pos, 1<<20), rr: newReader(s.f, s.path, s.pos, 0), pos: magicLen, start: start, stop: stop}
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
