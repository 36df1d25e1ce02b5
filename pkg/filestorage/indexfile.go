package filestorage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrBadIndex is wrapped by every error from ReadIndex: the .index file
// cannot be used and the data file must be scanned instead (Python logs
// and rebuilds too: ZODB 6.3 FileStorage._restore_index).
var ErrBadIndex = errors.New("filestorage: unusable index file")

// IndexError locates a problem in an .index file.
type IndexError struct {
	File   string
	Offset int
	Msg    string
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
}

func (e *IndexError) Unwrap() error { return ErrBadIndex }

// pickle opcodes used by the .index format (ZODB 6.3 fsIndex.save).
const (
	opProto       = 0x80
	opFrame       = 0x95
	opStop        = '.'
	opNone        = 'N'
	opMark        = '('
	opTuple       = 't'
	opTuple1      = 0x85
	opTuple2      = 0x86
	opTuple3      = 0x87
	opEmptyTuple  = ')'
	opBinInt      = 'J'
	opBinInt1     = 'K'
	opBinInt2     = 'M'
	opInt         = 'I'
	opLong        = 'L'
	opLong1       = 0x8a
	opLong4       = 0x8b
	opShortBytes  = 'C'
	opBinBytes    = 'B'
	opBinBytes8   = 0x8e
	opShortString = 'U'
	opBinString   = 'T'
	opBinPut      = 'q'
	opLongBinPut  = 'r'
	opPut         = 'p'
	opMemoize     = 0x94
	opBinGet      = 'h'
	opLongBinGet  = 'j'
	opGet         = 'g'
)

type pmark struct{}

// indexVM decodes the small subset of pickle an index stream can hold.
// It never builds anything but ints, byte strings, tuples and None;
// everything else is "not an index" (docs/design/data-fs.md: any valid encoding of the
// same values is accepted, anything else means rescan).
type indexVM struct {
	file  string
	data  []byte
	pos   int
	memo  map[int]any
	stack []any
}

func (vm *indexVM) errf(format string, args ...any) error {
	return &IndexError{File: vm.file, Offset: vm.pos, Msg: fmt.Sprintf(format, args...)}
}

func (vm *indexVM) take(n int) ([]byte, error) {
	if n < 0 || n > len(vm.data)-vm.pos {
		return nil, vm.errf("truncated pickle")
	}
	b := vm.data[vm.pos : vm.pos+n]
	vm.pos += n
	return b, nil
}

func (vm *indexVM) line() (string, error) {
	i := strings.IndexByte(string(vm.data[vm.pos:min(len(vm.data), vm.pos+64)]), '\n')
	if i < 0 {
		return "", vm.errf("unterminated text argument")
	}
	s := string(vm.data[vm.pos : vm.pos+i])
	vm.pos += i + 1
	return s, nil
}

func (vm *indexVM) pop() (any, error) {
	if len(vm.stack) == 0 {
		return nil, vm.errf("stack underflow")
	}
	v := vm.stack[len(vm.stack)-1]
	vm.stack = vm.stack[:len(vm.stack)-1]
	if _, ok := v.(pmark); ok {
		return nil, vm.errf("unexpected mark")
	}
	return v, nil
}

func leInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	if len(b) > 8 {
		// Only non-negative values < 2^63 fit; allow sign padding.
		for _, c := range b[8:] {
			if c != 0 {
				return 0, false
			}
		}
		b = b[:8]
		if b[7]&0x80 != 0 {
			return 0, false
		}
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	if len(b) < 8 && b[len(b)-1]&0x80 != 0 { // sign-extend
		v |= ^uint64(0) << (8 * len(b))
	}
	return int64(v), true
}

// next decodes one pickle (up to STOP) and returns its value.
func (vm *indexVM) next() (any, error) {
	vm.stack = vm.stack[:0]
	for {
		if vm.pos >= len(vm.data) {
			return nil, vm.errf("unexpected end of file (no STOP)")
		}
		op := vm.data[vm.pos]
		vm.pos++
		switch op {
		case opProto:
			if _, err := vm.take(1); err != nil {
				return nil, err
			}
		case opFrame:
			if _, err := vm.take(8); err != nil {
				return nil, err
			}
		case opStop:
			if len(vm.stack) != 1 {
				return nil, vm.errf("STOP with %d values on the stack", len(vm.stack))
			}
			return vm.pop()
		case opNone:
			vm.stack = append(vm.stack, nil)
		case opMark:
			vm.stack = append(vm.stack, pmark{})
		case opEmptyTuple:
			vm.stack = append(vm.stack, []any{})
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			if len(vm.stack) < n {
				return nil, vm.errf("stack underflow")
			}
			t := make([]any, n)
			for i := n - 1; i >= 0; i-- {
				v, err := vm.pop()
				if err != nil {
					return nil, err
				}
				t[i] = v
			}
			vm.stack = append(vm.stack, t)
		case opTuple:
			k := len(vm.stack) - 1
			for k >= 0 {
				if _, ok := vm.stack[k].(pmark); ok {
					break
				}
				k--
			}
			if k < 0 {
				return nil, vm.errf("TUPLE without MARK")
			}
			t := append([]any{}, vm.stack[k+1:]...)
			vm.stack = append(vm.stack[:k], t)
		case opBinInt1:
			b, err := vm.take(1)
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, int64(b[0]))
		case opBinInt2:
			b, err := vm.take(2)
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, int64(binary.LittleEndian.Uint16(b)))
		case opBinInt:
			b, err := vm.take(4)
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, int64(int32(binary.LittleEndian.Uint32(b))))
		case opInt, opLong:
			s, err := vm.line()
			if err != nil {
				return nil, err
			}
			s = strings.TrimSuffix(s, "L")
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, vm.errf("bad integer %q", s)
			}
			vm.stack = append(vm.stack, v)
		case opLong1, opLong4:
			var n int
			if op == opLong1 {
				b, err := vm.take(1)
				if err != nil {
					return nil, err
				}
				n = int(b[0])
			} else {
				b, err := vm.take(4)
				if err != nil {
					return nil, err
				}
				n = int(int32(binary.LittleEndian.Uint32(b)))
			}
			b, err := vm.take(n)
			if err != nil {
				return nil, err
			}
			v, ok := leInt(b)
			if !ok {
				return nil, vm.errf("integer too large")
			}
			vm.stack = append(vm.stack, v)
		case opShortBytes, opShortString:
			b, err := vm.take(1)
			if err != nil {
				return nil, err
			}
			s, err := vm.take(int(b[0]))
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, s)
		case opBinBytes, opBinString:
			b, err := vm.take(4)
			if err != nil {
				return nil, err
			}
			n := binary.LittleEndian.Uint32(b)
			if op == opBinString && int32(n) < 0 {
				return nil, vm.errf("negative string length")
			}
			s, err := vm.take(int(n))
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, s)
		case opBinBytes8:
			b, err := vm.take(8)
			if err != nil {
				return nil, err
			}
			n := binary.LittleEndian.Uint64(b)
			if n > uint64(len(vm.data)) {
				return nil, vm.errf("truncated pickle")
			}
			s, err := vm.take(int(n))
			if err != nil {
				return nil, err
			}
			vm.stack = append(vm.stack, s)
		case opBinPut, opLongBinPut, opPut, opMemoize:
			var k int
			switch op {
			case opBinPut:
				b, err := vm.take(1)
				if err != nil {
					return nil, err
				}
				k = int(b[0])
			case opLongBinPut:
				b, err := vm.take(4)
				if err != nil {
					return nil, err
				}
				k = int(binary.LittleEndian.Uint32(b))
			case opPut:
				s, err := vm.line()
				if err != nil {
					return nil, err
				}
				v, err := strconv.Atoi(s)
				if err != nil {
					return nil, vm.errf("bad memo key %q", s)
				}
				k = v
			default:
				k = len(vm.memo)
			}
			if len(vm.stack) == 0 {
				return nil, vm.errf("memo put on an empty stack")
			}
			vm.memo[k] = vm.stack[len(vm.stack)-1]
		case opBinGet, opLongBinGet, opGet:
			var k int
			switch op {
			case opBinGet:
				b, err := vm.take(1)
				if err != nil {
					return nil, err
				}
				k = int(b[0])
			case opLongBinGet:
				b, err := vm.take(4)
				if err != nil {
					return nil, err
				}
				k = int(binary.LittleEndian.Uint32(b))
			default:
				s, err := vm.line()
				if err != nil {
					return nil, err
				}
				v, err := strconv.Atoi(s)
				if err != nil {
					return nil, vm.errf("bad memo key %q", s)
				}
				k = v
			}
			v, ok := vm.memo[k]
			if !ok {
				return nil, vm.errf("memo key %d missing", k)
			}
			vm.stack = append(vm.stack, v)
		default:
			return nil, vm.errf("opcode 0x%02x not expected in an index file", op)
		}
	}
}

// ParseIndex decodes the bytes of a Data.fs.index file: the position the
// index covers and the oid -> position map. name is used in errors.
// The index keeps using data's memory (no copy): the caller must not
// modify data afterwards.
func ParseIndex(name string, data []byte) (int64, *Index, error) {
	vm := &indexVM{file: name, data: data, memo: map[int]any{}}
	v, err := vm.next()
	if err != nil {
		return 0, nil, err
	}
	pos, ok := v.(int64)
	if !ok {
		// A dict here is the pre-2010 single-pickle format (ZODB 6.3 fsIndex.load converts it).
		return 0, nil, &IndexError{File: name, Offset: 0, Msg: "first pickle is not the position (old or foreign index format)"}
	}
	if pos < 0 || pos > maxPos {
		return 0, nil, &IndexError{File: name, Offset: 0, Msg: fmt.Sprintf("position %d out of range", pos)}
	}
	idx := NewIndex()
	for {
		start := vm.pos
		v, err := vm.next()
		if err != nil {
			return 0, nil, err
		}
		if v == nil {
			break
		}
		t, ok := v.([]any)
		if !ok || len(t) != 2 {
			return 0, nil, &IndexError{File: name, Offset: start, Msg: "expected a (prefix, bucket) pair"}
		}
		pre, ok1 := t[0].([]byte)
		bk, ok2 := t[1].([]byte)
		if !ok1 || !ok2 || len(pre) != 6 {
			return 0, nil, &IndexError{File: name, Offset: start, Msg: "prefix must be 6 bytes and bucket bytes"}
		}
		if len(bk) == 0 || len(bk)%8 != 0 {
			// Empty buckets make Python's maxKey assert (ZODB 6.3 fsIndex.maxKey).
			return 0, nil, &IndexError{File: name, Offset: start, Msg: fmt.Sprintf("bucket length %d is not a positive multiple of 8", len(bk))}
		}
		n := len(bk) / 8
		keys := bk[: 2*n : 2*n]
		for i := 1; i < n; i++ {
			if binary.BigEndian.Uint16(keys[2*i:]) <= binary.BigEndian.Uint16(keys[2*i-2:]) {
				return 0, nil, &IndexError{File: name, Offset: start, Msg: "bucket keys not strictly ascending"}
			}
		}
		// The bucket keeps pointing into data (fsBucket's own layout).
		vals := bk[2*n : 8*n : 8*n]
		p := uint64(pre[0])<<40 | uint64(pre[1])<<32 | uint64(pre[2])<<24 | uint64(pre[3])<<16 | uint64(pre[4])<<8 | uint64(pre[5])
		idx.setBucket(p, keys, vals)
	}
	// Python stops reading at None; trailing bytes are ignored there too.
	return pos, idx, nil
}

// ReadIndex loads a Data.fs.index file.
func ReadIndex(path string) (int64, *Index, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrBadIndex, err)
	}
	return ParseIndex(path, data)
}

// appendPickleInt encodes an int as Python's protocol-3 pickler does.
func appendPickleInt(b []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= 0xff:
		return append(b, opBinInt1, byte(v))
	case v >= 0 && v <= 0xffff:
		return append(b, opBinInt2, byte(v), byte(v>>8))
	case v >= -0x80000000 && v <= 0x7fffffff:
		return binary.LittleEndian.AppendUint32(append(b, opBinInt), uint32(int32(v)))
	}
	// LONG1 with encode_long: (bit_length >> 3) + 1 little-endian
	// two's-complement bytes.
	n := big.NewInt(v).BitLen()>>3 + 1
	b = append(b, opLong1, byte(n))
	for i := range n {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendPickleBytes(b, s []byte) []byte {
	if len(s) <= 0xff {
		b = append(b, opShortBytes, byte(len(s)))
	} else {
		b = binary.LittleEndian.AppendUint32(append(b, opBinBytes), uint32(len(s)))
	}
	return append(b, s...)
}

// WriteIndex writes the index as Python's fsIndex.save does (protocol 3,
// fast mode: no memo; bytes opcodes; one pickle per non-empty bucket in
// prefix order; then None) so the file is byte-identical to Python's. It
// writes path+".index_tmp", fsyncs, and renames it over path, so a crash
// leaves either the old or the new index.
func WriteIndex(path string, pos int64, idx *Index) error {
	tmp := path + ".index_tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("writing index: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = writeIndexTo(w, pos, idx)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing index %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

func writeIndexTo(w *bufio.Writer, pos int64, idx *Index) error {
	buf := appendPickleInt([]byte{opProto, 3}, pos)
	buf = append(buf, opStop)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	var bk []byte
	for _, p := range idx.prefixes {
		b := idx.buckets[p]
		if b.n() == 0 {
			continue
		}
		bk = append(append(bk[:0], b.keys...), b.vals...)
		pre := []byte{byte(p >> 40), byte(p >> 32), byte(p >> 24), byte(p >> 16), byte(p >> 8), byte(p)}
		buf = append(buf[:0], opProto, 3)
		buf = appendPickleBytes(buf, pre)
		buf = appendPickleBytes(buf, bk)
		buf = append(buf, opTuple2, opStop)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	_, err := w.Write([]byte{opProto, 3, opNone, opStop})
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
