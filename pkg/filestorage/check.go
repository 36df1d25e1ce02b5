package filestorage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/zdkit/zdkit/pkg/regularfile"
)

// ErrCheck is wrapped by the *CheckError that Check returns.
var ErrCheck = errors.New("filestorage: check failed")

// CheckError is fstest's FormatError; Msg is the message Python prints.
type CheckError struct{ Msg string }

func (e *CheckError) Error() string { return e.Msg }
func (e *CheckError) Unwrap() error { return ErrCheck }

// CheckOptions configure Check.
type CheckOptions struct {
	// Verbose 1 prints a line per transaction, 2 also per data record
	// (fstest -v, -vv), to Out.
	Verbose int
	Out     io.Writer
	// Pointers is accepted for callers written when the pointer checks
	// (every prev and backpointer points before the record at a record
	// of the same oid) were optional; Check now always makes them,
	// because Open and the reads refuse what they find.
	Pointers bool
	// Progress, when set, is called as the walk advances.
	Progress ProgressFunc
}

// Check is ZODB's fstest: a structural walk of the whole file that stops
// at the first problem, with fstest's messages. It reads the file
// directly (no lock, no index) so it can run beside a live server.
//
// It also makes the checks ZODB 6.3 fstest.py lacks but Open and the
// reads make (a file that passes Check opens and reads without a
// CorruptError): prev and backpointers must point before their record,
// at a record of the same oid, and a data record must not carry a
// version (vlen, which ZODB's FileStorage.format.DataHeader refuses
// too). Those findings are held back until the walk ends: a problem
// fstest.py reports anywhere in the file is reported instead, with its
// message, so both tools agree wherever fstest.py finds something.
func Check(path string, opts CheckOptions) error {
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
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	fail := func(format string, args ...any) error {
		return &CheckError{Msg: fmt.Sprintf(format, args...)}
	}
	if size == 0 {
		return fail("empty file")
	}
	r := newReader(f, path, size, 1<<20)
	magic, err := r.at(0, 4)
	if err != nil || (string(magic) != MagicFS30 && string(magic) != MagicFS21) {
		return fail("invalid file header")
	}
	pr := newReader(f, path, size, 64) // random access for pointer checks
	var extra error                    // the first problem fstest.py does not look for
	note := func(format string, args ...any) {
		if extra == nil {
			extra = fail(format, args...)
		}
	}
	oidAt := func(p int64) (Oid, bool) {
		b, err := pr.at(p, 8)
		if err != nil {
			return 0, false
		}
		return OidFromBytes(b), true
	}
	pos := int64(4)
	var ltid uint64
	for i := 0; ; i++ {
		if pos == size {
			break
		}
		h, err := r.at(pos, TxnHeaderLen)
		if err != nil {
			return fail("%s truncated at %d", path, pos)
		}
		t := binary.BigEndian.Uint64(h[0:8])
		tl := binary.BigEndian.Uint64(h[8:16])
		status := h[16]
		meta := uint64(TxnHeaderLen) + uint64(binary.BigEndian.Uint16(h[17:19])) + uint64(binary.BigEndian.Uint16(h[19:21])) + uint64(binary.BigEndian.Uint16(h[21:23]))
		if t <= ltid {
			return fail("%s time-stamp reduction at %d: 0x%016x <= 0x%016x", path, pos, t, ltid)
		}
		ltid = t
		if tl > uint64(size) || uint64(pos)+tl+8 > uint64(size) {
			return fail("%s truncated possibly because of damaged records at %d", path, pos)
		}
		if status == StatusCheckpoint {
			return fail("%s checkpoint flag was not cleared at %d", path, pos)
		}
		if status != StatusNormal && status != StatusUndone && status != StatusPacked {
			return fail("%s has invalid status 'b%s' at %d", path, pyBytesRepr([]byte{status}), pos)
		}
		if meta > tl {
			return fail("%s has an invalid transaction header at %d", path, pos)
		}
		tpos, tend := pos, pos+int64(tl)
		if status != StatusUndone {
			pos = tpos + int64(meta)
			for j := 0; pos < tend; j++ {
				d, err := r.at(pos, DataHeaderLen)
				if err != nil {
					return fail("%s truncated at %d", path, pos)
				}
				oid := OidFromBytes(d[0:8])
				prev := binary.BigEndian.Uint64(d[16:24])
				tloc := binary.BigEndian.Uint64(d[24:32])
				vlen := uint64(binary.BigEndian.Uint16(d[32:34]))
				plen := binary.BigEndian.Uint64(d[34:42])
				dlen := uint64(DataHeaderLen) + plen
				if plen == 0 {
					dlen += 8
				}
				if vlen != 0 {
					dlen += 16 + vlen // legacy version record: skipped
				}
				if tloc != uint64(tpos) {
					return fail("%s data record exceeds transaction record at %d: tloc %d != tpos %d", path, pos, tloc, tpos)
				}
				if plen > uint64(size) || uint64(pos)+dlen > uint64(tend) {
					return fail("%s has data records that extend beyond the transaction record; end at %d", path, uint64(pos)+dlen)
				}
				switch {
				case vlen != 0:
					note("%s data record at %d: non-zero version length %d (versions are not supported)", path, pos, vlen)
				default:
					if prev != 0 {
						if prev >= uint64(pos) {
							note("%s data record at %d: prev %d is not before the record", path, pos, prev)
						} else if o, ok := oidAt(int64(prev)); !ok || o != oid {
							note("%s data record at %d: prev %d is not a record of oid 0x%016x", path, pos, prev, uint64(oid))
						}
					}
					if plen == 0 {
						b, err := r.at(pos+DataHeaderLen, 8)
						if err != nil {
							return fail("%s truncated at %d", path, pos)
						}
						back := binary.BigEndian.Uint64(b)
						if back >= uint64(pos) {
							note("%s data record at %d: backpointer %d is not before the record", path, pos, back)
						} else if back != 0 {
							if o, ok := oidAt(int64(back)); !ok || o != oid {
								note("%s data record at %d: backpointer %d is not a record of oid 0x%016x", path, pos, back, uint64(oid))
							}
						}
					}
				}
				if opts.Verbose >= 2 {
					fmt.Fprintf(out, "%10d: object oid 0x%016x #%d\n", pos, uint64(oid), j)
				}
				pos += int64(dlen)
			}
		}
		rtl, err := r.at(tend, 8)
		if err != nil || binary.BigEndian.Uint64(rtl) != tl {
			return fail("%s has inconsistent transaction length for undone transaction at %d", path, pos)
		}
		if opts.Verbose >= 1 {
			fmt.Fprintf(out, "%10d: transaction tid 0x%016x #%d \n", tpos, t, i)
		}
		pos = tend + 8
		if opts.Progress != nil && i%256 == 0 {
			opts.Progress(pos, size)
		}
	}
	if extra != nil {
		return extra
	}
	if opts.Verbose >= 1 {
		fmt.Fprint(out, "no errors detected")
	}
	return nil
}

// pyBytesRepr is the inside of Python's repr() of a bytes value: quotes
// chosen as Python chooses them, \t \n \r \\ escapes, \xNN otherwise.
func pyBytesRepr(b []byte) string {
	q := byte('\'')
	if bytesContains(b, '\'') && !bytesContains(b, '"') {
		q = '"'
	}
	out := []byte{q}
	for _, c := range b {
		switch {
		case c == q || c == '\\':
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, '\\', 't')
		case c == '\n':
			out = append(out, '\\', 'n')
		case c == '\r':
			out = append(out, '\\', 'r')
		case c < 0x20 || c >= 0x7f:
			out = append(out, fmt.Sprintf("\\x%02x", c)...)
		default:
			out = append(out, c)
		}
	}
	return string(append(out, q))
}

func bytesContains(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// PyBytesRepr is Python's repr() of a bytes value (b'...').
func PyBytesRepr(b []byte) string { return "b" + pyBytesRepr(b) }
