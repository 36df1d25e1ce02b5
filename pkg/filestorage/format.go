package filestorage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Byte layout constants (ZODB 6.3 ZODB/FileStorage/format.py; docs/design/data-fs.md).
const (
	MagicFS30 = "FS30" // written by Python 3 ZODB, and by us
	MagicFS21 = "FS21" // Python 2 ZODB; read only
	magicLen  = 4

	TxnHeaderLen  = 23 // >8sQcHHH
	DataHeaderLen = 42 // >8s8sQQHQ

	StatusNormal     = ' '
	StatusPacked     = 'p'
	StatusCheckpoint = 'c'
	StatusUndone     = 'u'

	maxPos = 1<<48 - 1 // .index values are 48 bits (fsIndex)
)

// TxnHeader is a transaction record's header (format.py TxnHeader).
type TxnHeader struct {
	Pos         int64
	TID         tid.TID
	Len         int64 // tlen as stored: the record length minus the trailing 8
	Status      byte
	User        []byte
	Description []byte
	Extension   []byte
}

// HeaderLen is the length of the fixed header plus the three strings.
func (h *TxnHeader) HeaderLen() int64 {
	return TxnHeaderLen + int64(len(h.User)+len(h.Description)+len(h.Extension))
}

// DataPos is where the first data record starts.
func (h *TxnHeader) DataPos() int64 { return h.Pos + h.HeaderLen() }

// DataEnd is where the data records end (the redundant length follows).
func (h *TxnHeader) DataEnd() int64 { return h.Pos + h.Len }

// Next is the position of the following transaction.
func (h *TxnHeader) Next() int64 { return h.Pos + h.Len + 8 }

// DataHeader is a data record's header (format.py DataHeader). When DataLen is 0 the
// record holds an 8-byte backpointer instead of a pickle, read into Back.
type DataHeader struct {
	Pos     int64
	Oid     Oid
	TID     tid.TID
	Prev    int64 // previous revision of the oid, 0 if none
	TxnPos  int64 // tloc: the owning transaction
	DataLen int64 // plen
	Back    int64 // backpointer when DataLen == 0 (0 = no data)
}

// RecordLen is the full length of the data record.
func (h *DataHeader) RecordLen() int64 {
	if h.DataLen == 0 {
		return DataHeaderLen + 8
	}
	return DataHeaderLen + h.DataLen
}

// reader reads a data file through pread, optionally through a window
// buffer for sequential scans (small header reads are batched).
// A reader is not safe for concurrent use; each goroutine makes its own
// (they are cheap when window is 0).
type reader struct {
	f      io.ReaderAt
	name   string
	size   int64 // bytes beyond this are treated as absent
	window int
	buf    []byte
	bufPos int64
}

func newReader(f io.ReaderAt, name string, size int64, window int) *reader {
	return &reader{f: f, name: name, size: size, window: window}
}

func (r *reader) corrupt(pos int64, field, format string, args ...any) error {
	return &CorruptError{File: r.name, Offset: pos, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// at returns n bytes at pos. The slice is only valid until the next call.
func (r *reader) at(pos int64, n int) ([]byte, error) {
	if pos < 0 || n < 0 || pos > r.size || int64(n) > r.size-pos {
		return nil, io.ErrUnexpectedEOF
	}
	if r.window > 0 && n <= r.window {
		if pos >= r.bufPos && pos+int64(n) <= r.bufPos+int64(len(r.buf)) {
			off := pos - r.bufPos
			return r.buf[off : off+int64(n)], nil
		}
		if cap(r.buf) < r.window {
			r.buf = make([]byte, r.window)
		}
		m := int64(r.window)
		if m > r.size-pos {
			m = r.size - pos
		}
		r.buf = r.buf[:m]
		k, err := r.f.ReadAt(r.buf, pos)
		if k < n {
			r.buf = r.buf[:0]
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		r.buf = r.buf[:k]
		r.bufPos = pos
		return r.buf[:n], nil
	}
	b := make([]byte, n)
	k, err := r.f.ReadAt(b, pos)
	if k < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return b, nil
}

// ioErr turns a short read into a CorruptError naming the field; other I/O
// errors are wrapped with the file and offset.
func (r *reader) ioErr(err error, pos int64, field string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return r.corrupt(pos, field, "truncated (file ends at %d)", r.size)
	}
	return fmt.Errorf("%s: offset %d: reading %s: %w", r.name, pos, field, err)
}

// u64pos reads a stored position or length and refuses values that cannot
// be offsets in a file (they would overflow int64 arithmetic).
func u64pos(b []byte) (int64, bool) {
	v := binary.BigEndian.Uint64(b)
	if v > 1<<62 {
		return 0, false
	}
	return int64(v), true
}

// readTxnHeader reads the transaction header at pos, with its strings.
// It checks only that the bytes exist and that tlen is plausible enough to
// hold the strings; status, order and end checks belong to the caller.
func (r *reader) readTxnHeader(pos int64) (TxnHeader, error) {
	b, err := r.at(pos, TxnHeaderLen)
	if err != nil {
		return TxnHeader{}, r.ioErr(err, pos, "transaction header")
	}
	h := TxnHeader{Pos: pos, TID: tid.TID(binary.BigEndian.Uint64(b[0:8])), Status: b[16]}
	tl, ok := u64pos(b[8:16])
	if !ok {
		return h, r.corrupt(pos, "transaction length", "impossible value %d", binary.BigEndian.Uint64(b[8:16]))
	}
	h.Len = tl
	ul := int(binary.BigEndian.Uint16(b[17:19]))
	dl := int(binary.BigEndian.Uint16(b[19:21]))
	el := int(binary.BigEndian.Uint16(b[21:23]))
	hl := int64(TxnHeaderLen + ul + dl + el)
	if h.Len < hl {
		return h, r.corrupt(pos, "transaction length", "tlen %d is smaller than the header length %d", h.Len, hl)
	}
	if ul+dl+el > 0 {
		s, err := r.at(pos+TxnHeaderLen, ul+dl+el)
		if err != nil {
			return h, r.ioErr(err, pos, "transaction user/description/extension")
		}
		all := make([]byte, len(s))
		copy(all, s)
		h.User = all[:ul:ul]
		h.Description = all[ul : ul+dl : ul+dl]
		h.Extension = all[ul+dl:]
	} else {
		h.User, h.Description, h.Extension = []byte{}, []byte{}, []byte{}
	}
	return h, nil
}

// readDataHeader reads the data record at pos, which must lie entirely
// before limit (the end of its transaction's data).
func (r *reader) readDataHeader(pos, limit int64) (DataHeader, error) {
	if limit > r.size {
		limit = r.size
	}
	if pos+DataHeaderLen > limit {
		return DataHeader{Pos: pos}, r.corrupt(pos, "data record header", "%d bytes needed, only %d left in the transaction", DataHeaderLen, limit-pos)
	}
	b, err := r.at(pos, DataHeaderLen+8)
	if err != nil {
		b, err = r.at(pos, DataHeaderLen)
		if err != nil {
			return DataHeader{Pos: pos}, r.ioErr(err, pos, "data record header")
		}
	}
	h := DataHeader{Pos: pos, Oid: Oid(binary.BigEndian.Uint64(b[0:8])), TID: tid.TID(binary.BigEndian.Uint64(b[8:16]))}
	var ok bool
	if h.Prev, ok = u64pos(b[16:24]); !ok || h.Prev >= pos {
		return h, r.corrupt(pos, "prev", "previous-record pointer %d is not before the record", binary.BigEndian.Uint64(b[16:24]))
	}
	if h.TxnPos, ok = u64pos(b[24:32]); !ok || h.TxnPos >= pos {
		return h, r.corrupt(pos, "tloc", "transaction pointer %d is not before the record", binary.BigEndian.Uint64(b[24:32]))
	}
	if vlen := binary.BigEndian.Uint16(b[32:34]); vlen != 0 {
		// ZODB < 3.9 version records; current Python raises ValueError.
		return h, r.corrupt(pos, "vlen", "version record (vlen %d) is not supported", vlen)
	}
	plen := binary.BigEndian.Uint64(b[34:42])
	if plen > uint64(limit-pos-DataHeaderLen) {
		return h, r.corrupt(pos, "plen", "data length %d runs past the transaction end at %d", plen, limit)
	}
	h.DataLen = int64(plen)
	if plen == 0 {
		if pos+DataHeaderLen+8 > limit || len(b) < DataHeaderLen+8 {
			return h, r.corrupt(pos, "backpointer", "8 bytes needed, only %d left in the transaction", limit-pos-DataHeaderLen)
		}
		if h.Back, ok = u64pos(b[42:50]); !ok || h.Back >= pos {
			return h, r.corrupt(pos, "backpointer", "backpointer %d is not before the record", binary.BigEndian.Uint64(b[42:50]))
		}
	}
	return h, nil
}

// readData returns a fresh copy of the pickle of h (DataLen > 0).
func (r *reader) readData(h *DataHeader) ([]byte, error) {
	b, err := r.at(h.Pos+DataHeaderLen, int(h.DataLen))
	if err != nil {
		return nil, r.ioErr(err, h.Pos, "data")
	}
	if r.window > 0 && int(h.DataLen) <= r.window {
		c := make([]byte, len(b))
		copy(c, b)
		return c, nil
	}
	return b, nil
}

// loadBack follows a chain of backpointers (ZODB's _loadBack_impl) and
// returns the pickle and the tid of the record directly pointed at. A
// chain ending in 0 gives nil data. Unlike Python it checks that every
// record on the chain belongs to oid (Python's _loadBack_impl does not check).
func (r *reader) loadBack(oid Oid, back int64) (data []byte, dataTID tid.TID, err error) {
	first := true
	for back != 0 {
		h, err := r.readDataHeader(back, r.size)
		if err != nil {
			return nil, 0, err
		}
		if h.Oid != oid {
			return nil, 0, r.corrupt(back, "backpointer", "points at a record of oid %s, not %s", h.Oid.Repr(), oid.Repr())
		}
		if first {
			dataTID = h.TID
			first = false
		}
		if h.DataLen > 0 {
			data, err := r.readData(&h)
			return data, dataTID, err
		}
		back = h.Back // readDataHeader checked back < h.Pos, so this ends
	}
	return nil, dataTID, nil
}

// redundantLen reads the 8-byte copy of tlen that ends at end.
func (r *reader) redundantLen(end int64) (int64, error) {
	b, err := r.at(end-8, 8)
	if err != nil {
		return 0, r.ioErr(err, end-8, "redundant transaction length")
	}
	v, ok := u64pos(b)
	if !ok {
		return 0, r.corrupt(end-8, "redundant transaction length", "impossible value %d", binary.BigEndian.Uint64(b))
	}
	return v, nil
}

// checkTxnEnd verifies the redundant length of a transaction that fits.
func (r *reader) checkTxnEnd(h *TxnHeader) error {
	rl, err := r.redundantLen(h.Next())
	if err != nil {
		return err
	}
	if rl != h.Len {
		return r.corrupt(h.Pos, "redundant transaction length", "%d at offset %d does not match tlen %d", rl, h.Next()-8, h.Len)
	}
	return nil
}

// appendTxnHeader encodes a transaction header with its strings.
func appendTxnHeader(b []byte, t tid.TID, tlen int64, status byte, user, desc, ext []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	b = binary.BigEndian.AppendUint64(b, uint64(tlen))
	b = append(b, status)
	b = binary.BigEndian.AppendUint16(b, uint16(len(user)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(desc)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(ext)))
	b = append(b, user...)
	b = append(b, desc...)
	return append(b, ext...)
}

// appendDataRecord encodes a data record: with data when len(data) > 0,
// else with the backpointer back (0 = no data).
func appendDataRecord(b []byte, oid Oid, t tid.TID, prev, tloc int64, data []byte, back int64) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(oid))
	b = binary.BigEndian.AppendUint64(b, uint64(t))
	b = binary.BigEndian.AppendUint64(b, uint64(prev))
	b = binary.BigEndian.AppendUint64(b, uint64(tloc))
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
	if len(data) > 0 {
		return append(b, data...)
	}
	return binary.BigEndian.AppendUint64(b, uint64(back))
}
