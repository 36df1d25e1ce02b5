package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrame is the default cap on one frame's payload. ZEO itself has
// no cap (ZEO 6.0 ZEO/asyncio/base.py) and object records of tens of MB occur, so
// the default is generous; it only bounds what a hostile peer can make us
// allocate.
const DefaultMaxFrame = 64 << 20

// ErrFrameTooLarge is returned for a length word above the configured cap.
var ErrFrameTooLarge = errors.New("zeo: frame too large")

// ErrLegacyMAC reports a length word with the high bit set: ZEO <= 4 digest
// auth used it to flag an HMAC (zrpc/smac.py); ZEO 5/6 never sends it.
var ErrLegacyMAC = errors.New("zeo: frame length has the ZEO 4 MAC bit set (digest authentication is not supported; use <ssl>)")

// ReadFrame reads one sized message: a 4-byte big-endian length, then the
// payload. max <= 0 means DefaultMaxFrame.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n&0x80000000 != 0 {
		return nil, ErrLegacyMAC
	}
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n, max)
	}
	// Grow the buffer as bytes actually arrive, so a length word alone
	// cannot make us allocate the full cap.
	const chunk = 1 << 20
	buf := make([]byte, 0, min(int(n), chunk))
	for len(buf) < int(n) {
		m := min(int(n)-len(buf), chunk)
		start := len(buf)
		buf = append(buf, make([]byte, m)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("zeo: reading %d-byte frame: %w", n, err)
		}
	}
	return buf, nil
}

// AppendFrame appends the length word and payload to dst.
func AppendFrame(dst, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// WriteFrame writes one sized message in a single Write call.
func WriteFrame(w io.Writer, payload []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, 4+len(payload)), payload))
	return err
}
