package fstail

import (
	"bufio"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
)

// Tail writes ZODB 6.3 fstail.py's report of the last n transactions of
// the data file at path, newest first: for each, its time and the sha1
// of its data records, then its user, description, length, offset and
// header length. Like fstail (ZODB.fstools.prev_txn) it walks back from
// the end of the file through the redundant transaction lengths without
// opening a storage; damage on the way ends the report with an error
// naming the offset, where fstail.py fails with a traceback.
func Tail(path string, n int, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	readAt := func(pos int64, size int, what string) ([]byte, error) {
		b := make([]byte, size)
		if pos < 0 {
			return nil, fmt.Errorf("%s: %s at offset %d, before the start of the file: %w", path, what, pos, filestorage.ErrFormat)
		}
		k, err := f.ReadAt(b, pos)
		if k < size {
			if err == nil || err == io.EOF {
				return nil, fmt.Errorf("%s: offset %d: %s cut short (%d of %d bytes): %w", path, pos, what, k, size, filestorage.ErrFormat)
			}
			return nil, fmt.Errorf("%s: offset %d: %w", path, pos, err)
		}
		return b, nil
	}
	// prev_txn: the 8 bytes before pos hold the length of the
	// transaction that ends there.
	prev := func(pos int64) (int64, error) {
		b, err := readAt(pos-8, 8, "transaction length")
		if err != nil {
			return 0, err
		}
		tlen := binary.BigEndian.Uint64(b)
		if tlen > uint64(pos) {
			return 0, fmt.Errorf("%s: offset %d: transaction length %d runs before the start of the file: %w", path, pos-8, tlen, filestorage.ErrFormat)
		}
		return pos - int64(tlen) - 8, nil
	}
	pos, err := prev(st.Size())
	for i := n; err == nil && i > 0; i-- {
		var h []byte
		if h, err = readAt(pos, filestorage.TxnHeaderLen, "transaction header"); err != nil {
			break
		}
		t := tid.FromBytes(h[:8])
		length := int64(binary.BigEndian.Uint64(h[8:16]))
		ulen := int64(binary.BigEndian.Uint16(h[17:19]))
		dlen := int64(binary.BigEndian.Uint16(h[19:21]))
		elen := int64(binary.BigEndian.Uint16(h[21:23]))
		hlen := filestorage.TxnHeaderLen + ulen + dlen + elen
		dataLen := length - hlen
		if dataLen < 0 || pos+hlen+dataLen > st.Size() {
			err = fmt.Errorf("%s: offset %d: transaction length %d does not fit the file: %w", path, pos, length, filestorage.ErrFormat)
			break
		}
		var meta, data []byte
		if meta, err = readAt(pos+filestorage.TxnHeaderLen, int(ulen+dlen), "user and description"); err != nil {
			break
		}
		if data, err = readAt(pos+hlen, int(dataLen), "transaction data"); err != nil {
			break
		}
		sum := sha1.Sum(data)
		// read_meta leaves user and description as the str "" when
		// their length is 0, bytes otherwise.
		user, desc := "''", "''"
		if ulen > 0 {
			user = filestorage.PyBytesRepr(meta[:ulen])
		}
		if dlen > 0 {
			desc = filestorage.PyBytesRepr(meta[ulen:])
		}
		fmt.Fprintf(bw, "%s: hash=%s\n", t.String(), hex.EncodeToString(sum[:]))
		fmt.Fprintf(bw, "user=%s description=%s length=%d offset=%d (+%d)\n\n", user, desc, length, pos, hlen)
		if pos == int64(len(filestorage.MagicFS30)) {
			break
		}
		pos, err = prev(pos)
	}
	return err
}
