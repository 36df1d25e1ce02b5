package filestorage

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/regularfile"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// OpenIterator iterates a data file directly, without opening a storage
// (no lock, no index), like ZODB's FileIterator(path). Close the
// returned file when done.
func OpenIterator(path string) (*Iterator, *os.File, error) {
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	magic := make([]byte, 4)
	if n, _ := f.ReadAt(magic, 0); n < 4 || (string(magic) != MagicFS30 && string(magic) != MagicFS21) {
		f.Close()
		return nil, nil, fmt.Errorf("%s: offset 0: magic %q is not a FileStorage: %w", path, magic[:n], ErrFormat)
	}
	it := &Iterator{r: newReader(f, path, st.Size(), 1<<20), rr: newReader(f, path, st.Size(), 0), pos: magicLen, stop: 1<<64 - 1}
	return it, f, nil
}

// Dump writes ZODB's fsdump output for the file at path: one line per
// transaction and per record, in the exact format fsstats parses.
func Dump(path string, w io.Writer) error { return DumpProgress(path, w, nil) }

// DumpProgress is Dump reporting its progress.
func DumpProgress(path string, w io.Writer, progress ProgressFunc) error {
	it, f, err := OpenIterator(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for i := 0; ; i++ {
		t, err := it.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if progress != nil && i%256 == 0 {
			progress(t.Pos, it.r.size)
		}
		fmt.Fprintf(bw, "Trans #%05d tid=%016x size=%d time=%s offset=%d\n", i, uint64(t.TID), t.Len, t.TID.String(), t.DataPos())
		fmt.Fprintf(bw, "    status='%c' user=%s description=%s\n", t.Status, PyBytesRepr(t.User), PyBytesRepr(t.Description))
		for j, r := range t.Records {
			size, class := "", "undo or abort of object creation"
			if r.Data != nil {
				m, c := zodbpickle.ClassName(r.Data)
				size = fmt.Sprintf(" size=%d", len(r.Data))
				class = m + "." + c
			}
			bp := ""
			if r.DataTID != 0 {
				bp = fmt.Sprintf(" bp=%016x", uint64(r.DataTID))
			}
			fmt.Fprintf(bw, "  data #%05d oid=%016x%s class=%s%s\n", j, uint64(r.Oid), size, class, bp)
		}
	}
}
