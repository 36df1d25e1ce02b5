package filestorage

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/zdkit/zdkit/pkg/regularfile"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// DumpTolerant writes ZODB's fsdump output like Dump, but reads the file
// the way ZODB's FileIterator does (ZODB/FileStorage/FileStorage.py
// FileIterator.__next__ and TransactionRecordIterator.__next__), so a
// damaged file gives what Python's fsdump gives: the records up to the
// damage, one warning on warn, and no error. The warnings are Python's
// texts, naming the file as it was given:
//
//	NAME truncated, possibly due to damaged records at POS
//	NAME redundant transaction length check failed at POS
//	NAME has invalid transaction header at POS
//	NAME data record exceeds transaction record at POS  (skips the rest of that transaction only)
//	NAME time-stamp reduction at POS / NAME has invalid status, S, at POS  (goes on)
//
// Like that iterator it does not check prev or back pointers of records
// it does not follow. Damage where Python's iterator raises (a header cut
// short by the end of the file, a non-zero version length, a backpointer
// that leads nowhere) is returned as an error, a *CorruptError.
func DumpTolerant(path string, w, warn io.Writer, progress ProgressFunc) error {
	f, err := regularfile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	r := newReader(f, path, size, 1<<20)
	magic := make([]byte, 4)
	if n, _ := f.ReadAt(magic, 0); n < 4 || (string(magic) != MagicFS30 && string(magic) != MagicFS21) {
		return fmt.Errorf("%s: offset 0: magic %q is not a FileStorage: %w", path, magic[:n], ErrFormat)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	warnf := func(format string, a ...any) {
		bw.Flush() // keep the dump and the warning in file order on a shared terminal
		fmt.Fprintf(warn, "%s "+format+"\n", append([]any{path}, a...)...)
	}
	// Python's ints do not overflow; beyond reports whether a+b > lim
	// for the unsigned 64-bit lengths read from the file.
	beyond := func(a int64, b uint64, lim int64) bool {
		return b > uint64(lim) || a+int64(b) > lim
	}

	var ltid tid.TID
	pos := int64(magicLen)
	for i := 0; ; i++ {
		hdr, err := r.at(pos, TxnHeaderLen)
		if err != nil {
			if pos >= size {
				return nil // the end of the file
			}
			return r.corrupt(pos, "transaction header", "only %d bytes left before the end of the file at %d", size-pos, size)
		}
		t := tid.TID(binary.BigEndian.Uint64(hdr[0:8]))
		tlen := binary.BigEndian.Uint64(hdr[8:16])
		status := hdr[16]
		ulen := int64(binary.BigEndian.Uint16(hdr[17:19]))
		dlen := int64(binary.BigEndian.Uint16(hdr[19:21]))
		elen := int64(binary.BigEndian.Uint16(hdr[21:23]))
		if status >= 0x80 {
			// Python's TxnHeaderFromString decodes the status as ASCII.
			return r.corrupt(pos+16, "transaction status", "byte 0x%02x is not ASCII", status)
		}
		if t <= ltid {
			warnf("time-stamp reduction at %d", pos)
		}
		ltid = t
		if status == 'c' {
			return nil // the last, in-progress transaction
		}
		if tlen > uint64(size) || beyond(pos, tlen+8, size) {
			warnf("truncated, possibly due to damaged records at %d", pos)
			return nil
		}
		if status != ' ' && status != 'u' && status != 'p' {
			warnf("has invalid status, %c, at %d", status, pos)
		}
		headerLen := int64(TxnHeaderLen) + ulen + dlen + elen
		if int64(tlen) < headerLen {
			last, err := r.at(size-8, 8)
			if err != nil {
				return r.ioErr(err, size-8, "redundant transaction length")
			}
			rtl := binary.BigEndian.Uint64(last)
			if beyond(pos, rtl, size) || rtl < TxnHeaderLen {
				warnf("has invalid transaction header at %d", pos)
				fmt.Fprintf(warn, "It appears that there is invalid data at the end of the file, possibly due to a system crash.  %s truncated to recover from bad data at end.\n", path)
			} else {
				warnf("has invalid transaction header at %d", pos)
			}
			return nil
		}
		tpos, tend := pos, pos+int64(tlen)
		meta, err := r.at(pos+TxnHeaderLen, int(ulen+dlen))
		if err != nil {
			return r.ioErr(err, pos+TxnHeaderLen, "transaction metadata")
		}
		user := append([]byte(nil), meta[:ulen]...)
		desc := append([]byte(nil), meta[ulen:]...)
		rl, err := r.at(tend, 8)
		if err != nil {
			return r.ioErr(err, tend, "redundant transaction length")
		}
		if binary.BigEndian.Uint64(rl) != tlen {
			warnf("redundant transaction length check failed at %d", tend)
			return nil
		}
		pos = tend + 8

		if progress != nil && i%256 == 0 {
			progress(tpos, size)
		}
		fmt.Fprintf(bw, "Trans #%05d tid=%016x size=%d time=%s offset=%d\n", i, uint64(t), tlen, t.String(), tpos+headerLen)
		fmt.Fprintf(bw, "    status='%c' user=%s description=%s\n", status, PyBytesRepr(user), PyBytesRepr(desc))
		if err := dumpTolerantRecords(r, bw, tpos, tpos+headerLen, tend, warnf); err != nil {
			return err
		}
	}
}

// pyDataHeader is FileStorageFormatter._read_data_header: the 42-byte
// header, then the backpointer when there is no pickle.
func pyDataHeader(r *reader, pos int64) (DataHeader, error) {
	b, err := r.at(pos, DataHeaderLen)
	if err != nil {
		return DataHeader{}, r.ioErr(err, pos, "data record header")
	}
	h := DataHeader{
		Pos:    pos,
		Oid:    Oid(binary.BigEndian.Uint64(b[0:8])),
		TID:    tid.TID(binary.BigEndian.Uint64(b[8:16])),
		Prev:   int64(binary.BigEndian.Uint64(b[16:24])),
		TxnPos: int64(binary.BigEndian.Uint64(b[24:32])),
	}
	if vlen := binary.BigEndian.Uint16(b[32:34]); vlen != 0 {
		return h, r.corrupt(pos+32, "version length", "%d: versions are not supported", vlen)
	}
	plen := binary.BigEndian.Uint64(b[34:42])
	if plen > uint64(r.size) {
		plen = uint64(r.size) + 1 // past any limit; the caller's check fails
	}
	h.DataLen = int64(plen)
	if plen == 0 {
		bb, err := r.at(pos+DataHeaderLen, 8)
		if err != nil {
			return h, r.ioErr(err, pos+DataHeaderLen, "backpointer")
		}
		h.Back = int64(binary.BigEndian.Uint64(bb))
	}
	return h, nil
}

func dumpTolerantRecords(r *reader, w io.Writer, tpos, pos, tend int64, warnf func(string, ...any)) error {
	for j := 0; pos < tend; j++ {
		h, err := pyDataHeader(r, pos)
		if err != nil {
			return err
		}
		rlen := int64(DataHeaderLen) + h.DataLen
		if h.DataLen == 0 {
			rlen += 8
		}
		if pos+rlen > tend || h.TxnPos != tpos {
			warnf("data record exceeds transaction record at %d", pos)
			return nil
		}
		var data []byte
		hasData := true
		var dataTID tid.TID
		switch {
		case h.DataLen > 0:
			if data, err = r.at(pos+DataHeaderLen, int(h.DataLen)); err != nil {
				return r.ioErr(err, pos+DataHeaderLen, "data")
			}
		case h.Back == 0:
			hasData = false // undo of the object's creation
		default:
			// _loadBackTxn(oid, back, fail=False), then getTxnFromData.
			back := h.Back
			for hops := 0; ; hops++ {
				if hops > 1<<20 {
					// Python would loop forever on a backpointer cycle.
					return r.corrupt(h.Back, "backpointer", "chain from %d does not end", pos)
				}
				bh, err := pyDataHeader(r, back)
				if err != nil {
					return err
				}
				if bh.DataLen > 0 {
					if data, err = r.at(back+DataHeaderLen, int(bh.DataLen)); err != nil {
						return r.ioErr(err, back+DataHeaderLen, "data")
					}
					break
				}
				if bh.Back == 0 {
					hasData = false
					break
				}
				back = bh.Back
			}
			bh, err := pyDataHeader(r, h.Back)
			if err != nil {
				return err
			}
			if bh.Oid != h.Oid {
				return r.corrupt(h.Back, "backpointer", "record at %d is for oid %s, not %s", h.Back, bh.Oid.Repr(), h.Oid.Repr())
			}
			dataTID = bh.TID
		}
		size, class := "", "undo or abort of object creation"
		if hasData {
			m, c := zodbpickle.ClassName(data)
			size = fmt.Sprintf(" size=%d", len(data))
			class = m + "." + c
		}
		bp := ""
		if dataTID != 0 {
			bp = fmt.Sprintf(" bp=%016x", uint64(dataTID))
		}
		fmt.Fprintf(w, "  data #%05d oid=%016x%s class=%s%s\n", j, uint64(h.Oid), size, class, bp)
		pos += rlen
	}
	return nil
}
