package filestorage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/tid"
)

// RecoverOptions are fsrecover's flags.
type RecoverOptions struct {
	Force   bool    // -f: overwrite an existing output
	Verbose int     // -v N
	Partial bool    // -p: keep the good records of a damaged transaction, marked packed
	PackAgo float64 // -P secs: pack the output to now-secs afterwards (0: no pack)
	NoSync  bool    // tests only
	// Progress, when set, replaces fsrecover's dot-and-digit progress
	// (which is only printed when Verbose is 0).
	Progress ProgressFunc
}

var errRecoverEOF = errors.New("end of input")

// Recover is ZODB's fsrecover: it copies every readable transaction of
// the damaged file in into a new storage out, skipping damage by
// scanning forward for a pickle STOP ('.') followed by a plausible
// transaction length, and then for a valid transaction header. Records
// are copied with Restore, which keeps backpointers when it can.
// Out-of-order tids are bumped; 'u' transactions are skipped; a 'c'
// transaction ends the copy, its tail saved to out.trN. Messages go to
// w in fsrecover's words.
func Recover(in, out string, opts RecoverOptions, w io.Writer) error {
	fmt.Fprintln(w, "Recovering", in, "into", out)
	if _, err := os.Stat(out); err == nil && !opts.Force {
		return fmt.Errorf("%s exists", out)
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	magic := make([]byte, 4)
	if n, _ := f.ReadAt(magic, 0); n < 4 || (string(magic) != MagicFS30 && string(magic) != MagicFS21) {
		return fmt.Errorf("input is not a file storage")
	}
	if opts.Force {
		os.Remove(out)
		os.Remove(out + ".index")
	}
	ofs, err := Open(out, Options{Create: true, NoSync: opts.NoSync})
	if err != nil {
		return err
	}
	defer ofs.Close()
	r := newReader(f, in, size, 1<<20)
	rr := newReader(f, in, size, 0)
	var ts, ltid tid.TID
	ok := true
	var undone int64
	prog1 := int64(0)
	progress := func(p int64) {
		if opts.Progress != nil {
			return
		}
		for i := int64(0); i < p; i++ {
			iprogress(w, i)
		}
	}
	pos := int64(magicLen)
	for pos != 0 {
		npos, h, err := recoverTxnHeader(r, pos, size, out, ltid)
		if errors.Is(err, errRecoverEOF) {
			break
		}
		if err != nil {
			fmt.Fprintln(w, "error reading txn header:", err)
			if opts.Verbose == 0 {
				progress(prog1)
			}
			pos = recoverScan(f, pos)
			if opts.Verbose > 1 {
				fmt.Fprintln(w, "looking for valid txn header at", pos)
			}
			continue
		}
		ltid = h.TID
		if h.Status == StatusUndone {
			undone += npos - pos
			pos = npos
			continue
		}
		pos = npos
		t := h.TID
		if ts == 0 {
			ts = t
		} else if t <= ts {
			if ok {
				fmt.Fprintf(w, "Time stamps out of order %s, %s\n", ts, t)
			}
			ok = false
			ts = t.LaterThan(ts)
			t = ts
		} else {
			ts = t
			if !ok {
				fmt.Fprintf(w, "Time stamps back in order %s\n", t)
				ok = true
			}
		}
		x, err := ofs.BeginWithTID(TxnMeta{User: h.User, Description: h.Description, Extension: h.Extension}, t, h.Status)
		if err != nil {
			return err
		}
		if opts.Verbose > 0 {
			fmt.Fprint(w, "begin ", pos, " ", ts, " ")
			if opts.Verbose > 1 {
				fmt.Fprintln(w)
			}
		}
		nrec := 0
		var cerr error
		for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
			// fsrecover reads records through FileIterator, which only
			// logs a record that overruns its transaction or points at
			// another one and ends the transaction there: the records
			// before it are kept as a normal transaction.
			b, err := r.at(dp, DataHeaderLen)
			if err != nil {
				cerr = r.ioErr(err, dp, "data record header")
				break
			}
			oid := OidFromBytes(b[0:8])
			rtid := tid.FromBytes(b[8:16])
			tloc := binary.BigEndian.Uint64(b[24:32])
			vlen := binary.BigEndian.Uint16(b[32:34])
			plen := binary.BigEndian.Uint64(b[34:42])
			if vlen != 0 {
				//lint:ignore ST1005 ZODB 6.3 fsrecover.py prints this text exactly
				cerr = fmt.Errorf("Non-zero version length. Versions aren't supported.")
				break
			}
			dlen := uint64(DataHeaderLen) + plen
			if plen == 0 {
				dlen += 8
			}
			if plen > uint64(size) || uint64(dp)+dlen > uint64(de) || tloc != uint64(h.Pos) {
				if opts.Verbose > 1 {
					fmt.Fprintf(w, "%s data record exceeds transaction record at %d\n", in, dp)
				}
				break
			}
			var data []byte
			var dataTID tid.TID
			if plen > 0 {
				d := DataHeader{Pos: dp, DataLen: int64(plen)}
				data, err = r.readData(&d)
			} else {
				bb, e := r.at(dp+DataHeaderLen, 8)
				if e != nil {
					err = r.ioErr(e, dp, "backpointer")
				} else if back, ok := u64pos(bb); !ok || (back != 0 && back >= dp) {
					err = r.corrupt(dp, "backpointer", "backpointer %d is not before the record", binary.BigEndian.Uint64(bb))
				} else if back != 0 {
					data, dataTID, err = rr.loadBack(oid, back)
				}
			}
			if err == nil {
				if opts.Verbose > 1 {
					l := "bp"
					if data != nil {
						l = fmt.Sprint(len(data))
					}
					fmt.Fprintf(w, "%7d %s\n", uint64(oid), l)
				}
				err = x.Restore(oid, rtid, data, dataTID)
			}
			if err != nil {
				cerr = err
				break
			}
			nrec++
			dp += int64(dlen)
		}
		if cerr != nil {
			if opts.Partial && nrec > 0 {
				x.status = StatusPacked
				if err := x.Vote(); err != nil {
					return err
				}
				if _, err := x.Finish(); err != nil {
					return err
				}
				if opts.Verbose > 0 {
					fmt.Fprintln(w, "partial")
				}
			} else {
				x.Abort()
			}
			fmt.Fprintln(w, "error copying transaction:", cerr)
			if opts.Verbose == 0 {
				progress(prog1)
			}
			pos = recoverScan(f, pos)
			if opts.Verbose > 1 {
				fmt.Fprintln(w, "looking for valid txn header at", pos)
			}
		} else {
			if err := x.Vote(); err != nil {
				x.Abort()
				return err
			}
			if _, err := x.Finish(); err != nil {
				return err
			}
			if opts.Verbose > 0 {
				fmt.Fprintln(w, "finish")
			}
		}
		if opts.Progress != nil {
			opts.Progress(pos, size)
		} else if opts.Verbose == 0 && size > 0 {
			prog := pos * 20 / size
			for prog > prog1 {
				prog1++
				iprogress(w, prog1)
			}
		}
	}
	bad := size - undone - ofs.Size()
	fmt.Fprintf(w, "\n%d bytes removed during recovery\n", bad)
	if undone > 0 {
		fmt.Fprintf(w, "%d bytes of undone transaction data were skipped\n", undone)
	}
	if opts.PackAgo > 0 {
		fmt.Fprintln(w, "Packing ...")
		now := float64(tid.Now().TimeTime())
		pt, err := tid.FromUnix(now - opts.PackAgo)
		if err != nil {
			return err
		}
		if err := ofs.Pack(pt, true); err != nil {
			return err
		}
	}
	return ofs.Close()
}

func iprogress(w io.Writer, i int64) {
	if i%2 == 1 {
		fmt.Fprint(w, ". ")
	} else {
		fmt.Fprint(w, (i/2)%10, " ")
	}
}

// recoverTxnHeader is fsrecover's read_txn_header.
func recoverTxnHeader(r *reader, pos, size int64, out string, ltid tid.TID) (int64, *TxnHeader, error) {
	b, err := r.at(pos, TxnHeaderLen)
	if err != nil {
		return 0, nil, errRecoverEOF
	}
	t := tid.FromBytes(b[0:8])
	tl := binary.BigEndian.Uint64(b[8:16])
	status := b[16]
	meta := uint64(TxnHeaderLen) + uint64(binary.BigEndian.Uint16(b[17:19])) + uint64(binary.BigEndian.Uint16(b[19:21])) + uint64(binary.BigEndian.Uint16(b[21:23]))
	if tl > uint64(size) || uint64(pos)+tl+8 > uint64(size) {
		return 0, nil, fmt.Errorf("bad transaction length at %d", pos)
	}
	if tl < meta {
		return 0, nil, fmt.Errorf("invalid transaction length, %d, at %d", tl, pos)
	}
	if ltid != 0 && t < ltid {
		return 0, nil, fmt.Errorf("time-stamp reducation %d < %d, at %d", uint64(t), uint64(ltid), pos)
	}
	if status == StatusCheckpoint {
		if err := saveTail(r.f.(*os.File), pos, out); err != nil {
			return 0, nil, err
		}
		return 0, nil, errRecoverEOF
	}
	if status != StatusNormal && status != StatusUndone && status != StatusPacked {
		return 0, nil, fmt.Errorf("invalid status, '%c', at %d", status, pos)
	}
	h, err := r.readTxnHeader(pos)
	if err != nil {
		return 0, nil, err
	}
	rl, err := r.redundantLen(h.Next())
	if err != nil || rl != h.Len {
		if status == StatusUndone {
			return 0, nil, fmt.Errorf("inconsistent transaction length at %d", pos)
		}
		return 0, nil, fmt.Errorf("redundant transaction length check failed at %d", h.DataEnd())
	}
	return h.Next(), &h, nil
}

// saveTail copies the input from pos to its end into out.trN.
func saveTail(f *os.File, pos int64, out string) error {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s.tr%d", out, i)
		tr, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		_, err = io.Copy(tr, io.NewSectionReader(f, pos, 1<<62))
		if cerr := tr.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// recoverScan is fsrecover's scan: the position after a '.' followed by
// 8 bytes that read as a length smaller than the current position: a
// guess at the end of a transaction. 0 means end of file.
func recoverScan(f *os.File, pos int64) int64 {
	buf := make([]byte, 8096)
	for {
		n, _ := f.ReadAt(buf, pos)
		data := buf[:n]
		if n == 0 {
			return 0
		}
		s := 0
		for {
			l := bytes.IndexByte(data[s:], '.')
			if l < 0 {
				pos += int64(len(data))
				break
			}
			l += s
			s = l + 1
			if s > len(data)-8 {
				if n < len(buf) {
					return 0 // too close to the end to hold a length
				}
				pos += int64(l)
				break
			}
			tl := binary.BigEndian.Uint64(data[s : s+8])
			if tl < uint64(pos) {
				return pos + int64(s) + 8
			}
		}
	}
}
