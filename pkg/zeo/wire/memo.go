package wire

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"unicode/utf8"
)

// EncodePickleMemo pickles v the way ZODB stores a transaction extension
// in a Data.fs: FileStorage.tpc_begin calls TransactionMetaData's
// extension_bytes, i.e. zodbpickle's dumps(extension, 3), a protocol-3
// Pickler with the memo ON. The bytes differ from EncodePickle (ZEO's
// wire encoder runs with fast=1): every dict, list, non-empty tuple, str
// and bytes is followed by BINPUT (LONG_BINPUT from memo index 256 on),
// and an object met again is written as BINGET.
//
// Python's memo is keyed by object identity. The dict the Python server
// pickles was just unpickled (or unpacked from msgpack) from the client's
// message, which ZEO writes without a memo, so every value is a fresh
// object except CPython's shared singletons: the empty str, one-character
// str below U+0100, and bytes of length 0 or 1. Those are emulated here,
// so {'a': 'a'} gives `X\x01\x00\x00\x00aq\x01h\x01` as Python's does.
// (Checked against zodbpickle's C Pickler on CPython 3.11; interop
// finding 6.) One M5 case cannot be reproduced: Python's msgpack
// unpacker interns str map keys, so a key repeated in two nested dicts
// of one extension is one object there (a BINGET in Python's bytes) but
// not here; extensions are flat dicts in practice. Batching follows the C Pickler: a one-item dict or list
// uses SETITEM/APPEND; otherwise MARK ... SETITEMS/APPENDS per 1000
// items, and a dict of exactly a multiple of 1000 items ends with an
// empty MARK SETITEMS (batch_dict_exact's do-while).
//
// Global and *Object values are refused, as by EncodePickle.
func EncodePickleMemo(v any) ([]byte, error) {
	m := &memoPickler{buf: []byte{opProto, 3}, shared: map[string]int{}}
	if err := m.save(v, 0); err != nil {
		return nil, err
	}
	return append(m.buf, opStop), nil
}

type memoPickler struct {
	buf    []byte
	n      int            // next memo index
	shared map[string]int // singleton key -> memo index
}

// put writes the memo put for the object just saved.
func (m *memoPickler) put() int {
	i := m.n
	m.n++
	if i < 256 {
		m.buf = append(m.buf, opBinPut, byte(i))
	} else {
		m.buf = append(m.buf, opLongBinPut)
		m.buf = binary.LittleEndian.AppendUint32(m.buf, uint32(i))
	}
	return i
}

func (m *memoPickler) get(i int) {
	if i < 256 {
		m.buf = append(m.buf, opBinGet, byte(i))
	} else {
		m.buf = append(m.buf, opLongBinGet)
		m.buf = binary.LittleEndian.AppendUint32(m.buf, uint32(i))
	}
}

// singleton returns the identity key of values CPython shares between
// separately decoded occurrences, or "".
func singleton(v any) string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return "s"
		}
		if r, size := utf8.DecodeRuneInString(x); size == len(x) && r < 0x100 && r != utf8.RuneError {
			return "s" + x
		}
	case []byte:
		if len(x) <= 1 {
			return "b" + string(x)
		}
	}
	return ""
}

func (m *memoPickler) save(v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("zeo: value nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, int, int64, int32, uint64, *big.Int, float64:
		// Not memoized by Python's Pickler: same bytes as the wire encoder.
		b, err := pickleAppend(m.buf, x, depth)
		if err != nil {
			return err
		}
		m.buf = b
		return nil
	case string, []byte:
		key := singleton(x)
		if key != "" {
			if i, ok := m.shared[key]; ok {
				m.get(i)
				return nil
			}
		}
		if s, ok := x.(string); ok {
			m.buf = append(m.buf, opBinUnicode)
			m.buf = binary.LittleEndian.AppendUint32(m.buf, uint32(len(s)))
			m.buf = append(m.buf, s...)
		} else {
			b := x.([]byte)
			if len(b) <= 0xff {
				m.buf = append(m.buf, opShortBinBytes, byte(len(b)))
			} else {
				m.buf = append(m.buf, opBinBytes)
				m.buf = binary.LittleEndian.AppendUint32(m.buf, uint32(len(b)))
			}
			m.buf = append(m.buf, b...)
		}
		i := m.put()
		if key != "" {
			m.shared[key] = i
		}
		return nil
	case Tuple:
		if len(x) == 0 {
			// save_tuple writes EMPTY_TUPLE and does not memoize it.
			m.buf = append(m.buf, opEmptyTuple)
			return nil
		}
		if len(x) > 3 {
			m.buf = append(m.buf, opMark)
		}
		for _, e := range x {
			if err := m.save(e, depth+1); err != nil {
				return err
			}
		}
		switch len(x) {
		case 1:
			m.buf = append(m.buf, opTuple1)
		case 2:
			m.buf = append(m.buf, opTuple2)
		case 3:
			m.buf = append(m.buf, opTuple3)
		default:
			m.buf = append(m.buf, opTuple)
		}
		m.put()
		return nil
	case List:
		m.buf = append(m.buf, opEmptyList)
		m.put()
		if len(x) == 1 {
			if err := m.save(x[0], depth+1); err != nil {
				return err
			}
			m.buf = append(m.buf, opAppend)
			return nil
		}
		// batch_list_exact: MARK ... APPENDS per batch of up to 1000.
		for i := 0; i < len(x); i += 1000 {
			m.buf = append(m.buf, opMark)
			for _, e := range x[i:min(i+1000, len(x))] {
				if err := m.save(e, depth+1); err != nil {
					return err
				}
			}
			m.buf = append(m.buf, opAppends)
		}
		return nil
	case *Dict:
		m.buf = append(m.buf, opEmptyDict)
		m.put()
		if x == nil || len(x.Items) == 0 {
			return nil
		}
		if len(x.Items) == 1 {
			if err := m.save(x.Items[0].Key, depth+1); err != nil {
				return err
			}
			if err := m.save(x.Items[0].Value, depth+1); err != nil {
				return err
			}
			m.buf = append(m.buf, opSetItem)
			return nil
		}
		// batch_dict_exact: a do-while over batches of 1000, so a size
		// that is a multiple of 1000 ends with an empty MARK SETITEMS.
		i := 0
		for {
			m.buf = append(m.buf, opMark)
			end := min(i+1000, len(x.Items))
			for _, it := range x.Items[i:end] {
				if err := m.save(it.Key, depth+1); err != nil {
					return err
				}
				if err := m.save(it.Value, depth+1); err != nil {
					return err
				}
			}
			m.buf = append(m.buf, opSetItems)
			if end-i < 1000 {
				return nil
			}
			i = end
		}
	}
	return fmt.Errorf("zeo: cannot marshal %T", v)
}
