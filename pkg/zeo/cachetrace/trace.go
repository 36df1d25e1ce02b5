package cachetrace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// HeaderSize is the size of the fixed part of a trace record.
const HeaderSize = 26

// MaxDlen is the largest data length the 23-bit dlen field can hold.
// ZEO's writer raises struct.error for objects of 8 MiB or more (the word
// (dlen<<8)+code overflows a signed 32-bit integer); we saturate instead.
const MaxDlen = 1<<23 - 1

// Trace event codes written by ZEO >= 3.10 (ZEO 6.0 ZEO/cache.py, _trace callers).  The code byte also
// carries the version bit 0x80 and the obsolete file bit 0x01; the tools mask
// with 0x7e.
const (
	CodeRestart           byte = 0x00
	CodeInvalidateMiss    byte = 0x10
	CodeInvalidateVersion byte = 0x1a
	CodeInvalidateHit     byte = 0x1c
	CodeInvalidateDiscard byte = 0x1e
	CodeLoadMiss          byte = 0x20
	CodeLoadHit           byte = 0x22
	CodeLoadNoncurMiss    byte = 0x24
	CodeLoadNoncurHit     byte = 0x26
	CodeStoreVersion      byte = 0x50
	CodeStoreCurrent      byte = 0x52
	CodeStoreNoncurrent   byte = 0x54

	// VersionBit is set in the code byte of records that used a ZODB
	// version (never since ZODB 3.9).
	VersionBit byte = 0x80
)

// Record is one decoded trace record.
type Record struct {
	// Time is the time stamp, seconds since the epoch.  The field is a
	// signed 32-bit integer, as the Python tools read it.
	Time int32
	// Dlen is the data length (23 bits).
	Dlen uint32
	// Code is the whole code byte, version and file bits included.
	Code byte
	// Start and End are the two 8-byte tid fields, big-endian.
	Start, End uint64
	// Oid is the oid bytes (8 for real oids, empty for restart records).
	// When returned by Reader.Next it aliases the reader's buffer and is
	// valid only until the next call.
	Oid []byte
}

// Oid8 returns the oid as an integer when it is the usual 8 bytes long.
func (r *Record) Oid8() (uint64, bool) {
	if len(r.Oid) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(r.Oid), true
}

// Size is the encoded size of the record in bytes.
func (r *Record) Size() int { return HeaderSize + len(r.Oid) }

// MisalignedError reports a record with a zero time stamp.  ZEO's tools
// take such a record to be debris of a crash and skip 8 bytes ("Why 8?
// Lost in the mist of history", cache_simul.py); the Reader has already
// done that skip when it returns this error, so the caller may print a
// notice and call Next again.
type MisalignedError struct {
	// Offset is the byte offset of the record with the zero time stamp.
	Offset int64
}

func (e *MisalignedError) Error() string {
	return fmt.Sprintf("cachetrace: zero time stamp (misaligned record) at offset %d, skipping 8 bytes", e.Offset)
}

// TruncatedError reports a partial record at the end of the input, which
// a killed client leaves behind (ZEO's trace file is buffered and never
// fsynced).  It is final: the partial bytes have been consumed.
type TruncatedError struct {
	// Offset is where the partial record starts.
	Offset int64
	// Want is the number of bytes the record needed, Got how many remained.
	Want, Got int
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("cachetrace: truncated record at offset %d: need %d bytes, have %d", e.Offset, e.Want, e.Got)
}

// ErrIsDir is returned by Open for a directory (which os.Open accepts).
var ErrIsDir = errors.New("is a directory")

// ErrNotGzip is returned by Open for a ".gz" name whose content is not gzip.
var ErrNotGzip = errors.New("cachetrace: not in gzip format")

// bufSize is the read buffer; large enough for any oid (oidlen is 16 bits)
// so that a whole record can always be peeked.
const bufSize = 1 << 20

// Reader decodes trace records from a stream.
type Reader struct {
	br  *bufio.Reader
	pos int64
	err error
}

// NewReader returns a Reader on r.  It never seeks.
func NewReader(r io.Reader) *Reader {
	var br *bufio.Reader
	switch v := r.(type) {
	case *plainFile:
		// Open already buffered the file; don't buffer twice.
		br = v.br
	case *bufio.Reader:
		br = v
	}
	if br == nil || br.Size() < bufSize {
		br = bufio.NewReaderSize(r, bufSize)
	}
	return &Reader{br: br}
}

// Offset returns the number of input bytes consumed so far.  After Next
// has returned io.EOF or a *TruncatedError it is the total input size,
// which is what cache_stats prints as "(N bytes)".
func (r *Reader) Offset() int64 { return r.pos }

// Next decodes the next record into rec.  It returns io.EOF at a clean end,
// *TruncatedError for a partial final record, *MisalignedError (not fatal)
// after skipping a record with a zero time stamp, or an I/O error.
func (r *Reader) Next(rec *Record) error {
	if r.err != nil {
		return r.err
	}
	h, err := r.br.Peek(HeaderSize)
	if len(h) < HeaderSize {
		return r.finish(err, HeaderSize, len(h))
	}
	ts := int32(binary.BigEndian.Uint32(h[0:4]))
	if ts == 0 {
		off := r.pos
		r.br.Discard(8)
		r.pos += 8
		return &MisalignedError{Offset: off}
	}
	oidlen := int(binary.BigEndian.Uint16(h[8:10]))
	full, err := r.br.Peek(HeaderSize + oidlen)
	if len(full) < HeaderSize+oidlen {
		return r.finish(err, HeaderSize+oidlen, len(full))
	}
	w := binary.BigEndian.Uint32(full[4:8])
	rec.Time = ts
	rec.Dlen = (w & 0x7fffff00) >> 8
	rec.Code = byte(w)
	rec.Start = binary.BigEndian.Uint64(full[10:18])
	rec.End = binary.BigEndian.Uint64(full[18:26])
	rec.Oid = full[HeaderSize : HeaderSize+oidlen]
	// Discard after decoding: the peeked slice stays valid until the next
	// read from the bufio.Reader, i.e. until the next call of Next.
	r.br.Discard(HeaderSize + oidlen)
	r.pos += int64(HeaderSize + oidlen)
	return nil
}

// finish handles a short peek: a clean end, a partial record, or an error.
func (r *Reader) finish(err error, want, got int) error {
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		r.err = fmt.Errorf("cachetrace: reading at offset %d: %w", r.pos+int64(got), err)
		return r.err
	}
	off := r.pos
	r.br.Discard(got)
	r.pos += int64(got)
	if got == 0 {
		r.err = io.EOF
	} else {
		r.err = &TruncatedError{Offset: off, Want: want, Got: got}
	}
	return r.err
}

// Open opens a trace for reading: "-" is standard input, anything else a
// file.  Input starting with the gzip magic (1f 8b) is decompressed; the
// Python tools decide by the ".gz" suffix only and never gunzip stdin.  A
// plain trace cannot start with 1f 8b unless its first time stamp is in
// 1986, so sniffing is safe.  A ".gz" name with other content is an error.
func Open(name string, stdin io.Reader) (io.ReadCloser, error) {
	var f io.ReadCloser
	if name == "-" {
		f = io.NopCloser(stdin)
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		if st, err := fh.Stat(); err == nil && st.IsDir() {
			fh.Close()
			return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
		}
		f = fh
	}
	br := bufio.NewReaderSize(f, bufSize)
	magic, _ := br.Peek(2)
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("cachetrace: %s: %w", name, err)
		}
		return &gzipFile{zr: zr, f: f}, nil
	}
	if name != "-" && strings.HasSuffix(name, ".gz") {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, ErrNotGzip)
	}
	return &plainFile{br: br, f: f}, nil
}

type plainFile struct {
	br *bufio.Reader
	f  io.Closer
}

func (p *plainFile) Read(b []byte) (int, error) { return p.br.Read(b) }
func (p *plainFile) Close() error               { return p.f.Close() }

type gzipFile struct {
	zr *gzip.Reader
	f  io.Closer
}

func (g *gzipFile) Read(b []byte) (int, error) { return g.zr.Read(b) }
func (g *gzipFile) Close() error {
	err := g.zr.Close()
	if cerr := g.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Writer encodes trace records.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.  Wrap w in a bufio.Writer for speed;
// Writer itself does no buffering beyond one record.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write encodes one record.  Dlen values above MaxDlen are saturated
// (Python raises struct.error from inside the cache call, after the object
// has been stored; pkg/zeo/cache fault 4).  Oids longer than 65535 bytes are an
// error.
func (w *Writer) Write(rec *Record) error {
	w.buf = AppendRecord(w.buf[:0], rec)
	if w.buf == nil {
		return fmt.Errorf("cachetrace: oid of %d bytes does not fit the 16-bit length field", len(rec.Oid))
	}
	_, err := w.w.Write(w.buf)
	return err
}

// AppendRecord appends the encoding of rec to b.  It returns nil if the oid
// is too long to encode.
func AppendRecord(b []byte, rec *Record) []byte {
	if len(rec.Oid) > 0xffff {
		return nil
	}
	dlen := rec.Dlen
	if dlen > MaxDlen {
		dlen = MaxDlen
	}
	b = binary.BigEndian.AppendUint32(b, uint32(rec.Time))
	b = binary.BigEndian.AppendUint32(b, dlen<<8|uint32(rec.Code))
	b = binary.BigEndian.AppendUint16(b, uint16(len(rec.Oid)))
	b = binary.BigEndian.AppendUint64(b, rec.Start)
	b = binary.BigEndian.AppendUint64(b, rec.End)
	return append(b, rec.Oid...)
}
