package filestorage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// spillAt: once a transaction's data records pass this many bytes they
// move to a temporary file beside the data file until Vote copies them
// in, so a large transaction does not sit in memory. ZODB 6.3
// FileStorage writes every transaction to such a file (_tfile, a
// TemporaryFile) and copies it at tpc_vote; zdkit keeps small ones in
// memory, the common case.
const spillAt = 16 << 20

// end is the file position the next data record gets.
func (x *Txn) end() int64 { return x.s.pos + x.spilled + int64(len(x.buf)) }

// spillMaybe moves buf's data records to the spill file past spillAt.
// A failure is kept for Vote; the records then stay in memory.
func (x *Txn) spillMaybe() {
	if int64(len(x.buf))-x.hl < spillAt || x.spillErr != nil {
		return
	}
	if x.spill == nil {
		f, err := os.CreateTemp(filepath.Dir(x.s.path), ".fs-txn-*.tmp")
		if err != nil {
			x.spillErr = fmt.Errorf("%s: spilling a large transaction: %w", x.s.path, err)
			return
		}
		// Unlinked at once: the space goes back with the descriptor,
		// crash included.
		os.Remove(f.Name())
		x.spill = f
	}
	if _, err := x.spill.WriteAt(x.buf[x.hl:], x.spilled); err != nil {
		x.spillErr = fmt.Errorf("%s: spilling a large transaction: %w", x.s.path, err)
		return
	}
	x.spilled += int64(len(x.buf)) - x.hl
	x.buf = x.buf[:x.hl]
}

// writeRecord writes the transaction record at pos: buf's header, the
// spilled records, then the rest of buf (records and the length
// trailer); in one write when nothing was spilled.
func (x *Txn) writeRecord(pos int64) error {
	f := x.s.f
	if x.spilled == 0 {
		_, err := f.WriteAt(x.buf, pos)
		return err
	}
	if _, err := f.WriteAt(x.buf[:x.hl], pos); err != nil {
		return err
	}
	if _, err := io.Copy(io.NewOffsetWriter(f, pos+x.hl), io.NewSectionReader(x.spill, 0, x.spilled)); err != nil {
		return err
	}
	_, err := f.WriteAt(x.buf[x.hl:], pos+x.hl+x.spilled)
	return err
}
