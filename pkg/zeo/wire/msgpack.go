package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// ErrMsgpack is wrapped by every msgpack decoding error.
var ErrMsgpack = errors.New("zeo: bad msgpack")

// EncodeMsgpack marshals v like ZEO's msgpack encoder,
// msgpack.packb(obj, use_bin_type=True): bytes as bin, str as str, tuples
// and lists as arrays, ints in their smallest form, floats as float64.
func EncodeMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	if err := msgpackAppend(enc, v, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func msgpackAppend(e *msgpack.Encoder, v any, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("zeo: value nested deeper than %d", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return e.EncodeNil()
	case bool:
		return e.EncodeBool(x)
	case int:
		return e.EncodeInt(int64(x))
	case int32:
		return e.EncodeInt(int64(x))
	case int64:
		return e.EncodeInt(x)
	case uint64:
		return e.EncodeUint(x)
	case *big.Int:
		if x.IsInt64() {
			return e.EncodeInt(x.Int64())
		}
		if x.IsUint64() {
			return e.EncodeUint(x.Uint64())
		}
		return fmt.Errorf("zeo: integer %s does not fit msgpack", x)
	case float64:
		return e.EncodeFloat64(x)
	case []byte:
		return e.EncodeBytes(x)
	case string:
		return e.EncodeString(x)
	case Tuple:
		return msgpackSeq(e, x, depth)
	case List:
		return msgpackSeq(e, x, depth)
	case *Dict:
		if err := e.EncodeMapLen(x.Len()); err != nil {
			return err
		}
		if x == nil {
			return nil
		}
		for _, it := range x.Items {
			if err := msgpackAppend(e, it.Key, depth+1); err != nil {
				return err
			}
			if err := msgpackAppend(e, it.Value, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("zeo: cannot marshal %T as msgpack", v)
}

func msgpackSeq(e *msgpack.Encoder, x []any, depth int) error {
	if err := e.EncodeArrayLen(len(x)); err != nil {
		return err
	}
	for _, el := range x {
		if err := msgpackAppend(e, el, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack unmarshals one msgpack value like
// msgpack.unpackb(data, raw=False, use_list=False): arrays become Tuple,
// str must be UTF-8, maps keep their order. Trailing bytes are an error.
// Declared lengths are checked against the remaining input before anything
// is allocated.
func DecodeMsgpack(data []byte) (any, error) {
	return DecodeMsgpackWithin(data, DefaultBudgetPerByte)
}

// DecodeMsgpackWithin is DecodeMsgpack allocating at most
// DecodeCost(len(data), perByte) bytes.
func DecodeMsgpackWithin(data []byte, perByte int) (any, error) {
	r := bytes.NewReader(data)
	d := msgpack.NewDecoder(r)
	b := newValueBudget(len(data), perByte)
	v, err := msgpackValue(d, r, &b, 0)
	if err != nil {
		return nil, err
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMsgpack, r.Len())
	}
	return v, nil
}

func mpErr(r *bytes.Reader, format string, a ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrMsgpack, r.Size()-int64(r.Len()), fmt.Sprintf(format, a...))
}

// msgpackValue decodes one value and charges its cost to b
// (ErrValueBudget): the interface slot holding it is charged by its
// container, before the container is allocated, so only the value's own
// header is charged here.
func msgpackValue(d *msgpack.Decoder, r *bytes.Reader, b *valueBudget, depth int) (any, error) {
	v, err := msgpackValue1(d, r, b, depth)
	if err == nil && !b.spend(valueCost(v)) {
		return nil, b.err(ErrMsgpack, int(r.Size()))
	}
	return v, err
}

func msgpackValue1(d *msgpack.Decoder, r *bytes.Reader, budget *valueBudget, depth int) (any, error) {
	if depth > maxDepth {
		return nil, mpErr(r, "nested deeper than %d", maxDepth)
	}
	c, err := d.PeekCode()
	if err != nil {
		return nil, mpErr(r, "truncated: %v", err)
	}
	switch {
	case c == msgpcode.Nil:
		return nil, d.DecodeNil()
	case c == msgpcode.True || c == msgpcode.False:
		return d.DecodeBool()
	case msgpcode.IsFixedNum(c), c == msgpcode.Int8, c == msgpcode.Int16, c == msgpcode.Int32, c == msgpcode.Int64,
		c == msgpcode.Uint8, c == msgpcode.Uint16, c == msgpcode.Uint32:
		n, err := d.DecodeInt64()
		if err != nil {
			return nil, mpErr(r, "int: %v", err)
		}
		return n, nil
	case c == msgpcode.Uint64:
		n, err := d.DecodeUint64()
		if err != nil {
			return nil, mpErr(r, "uint64: %v", err)
		}
		if n > math.MaxInt64 {
			return new(big.Int).SetUint64(n), nil
		}
		return int64(n), nil
	case c == msgpcode.Float || c == msgpcode.Double:
		f, err := d.DecodeFloat64()
		if err != nil {
			return nil, mpErr(r, "float: %v", err)
		}
		return f, nil
	case msgpcode.IsString(c):
		n, err := d.DecodeBytesLen()
		if err != nil {
			return nil, mpErr(r, "str: %v", err)
		}
		if n > r.Len() {
			return nil, mpErr(r, "str length %d beyond data", n)
		}
		if !budget.spend(2 * n) { // the bytes, then the string
			return nil, budget.err(ErrMsgpack, int(r.Size()))
		}
		b := make([]byte, n)
		if _, err := r.Read(b); err != nil && n > 0 {
			return nil, mpErr(r, "str: %v", err)
		}
		if !utf8.Valid(b) {
			return nil, mpErr(r, "str is not valid UTF-8")
		}
		return string(b), nil
	case msgpcode.IsBin(c):
		n, err := d.DecodeBytesLen()
		if err != nil {
			return nil, mpErr(r, "bin: %v", err)
		}
		if n < 0 || n > r.Len() {
			return nil, mpErr(r, "bin length %d beyond data", n)
		}
		if !budget.spend(n) {
			return nil, budget.err(ErrMsgpack, int(r.Size()))
		}
		b := make([]byte, n)
		if _, err := r.Read(b); err != nil && n > 0 {
			return nil, mpErr(r, "bin: %v", err)
		}
		return b, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, mpErr(r, "array: %v", err)
		}
		if n < 0 || n > r.Len() { // every element takes at least one byte
			return nil, mpErr(r, "array length %d beyond data", n)
		}
		if !budget.spend(16 * n) {
			return nil, budget.err(ErrMsgpack, int(r.Size()))
		}
		t := make(Tuple, n)
		for i := range t {
			if t[i], err = msgpackValue(d, r, budget, depth+1); err != nil {
				return nil, err
			}
		}
		return t, nil
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, mpErr(r, "map: %v", err)
		}
		if n < 0 || 2*n > r.Len() {
			return nil, mpErr(r, "map length %d beyond data", n)
		}
		if !budget.spend(32 * n) {
			return nil, budget.err(ErrMsgpack, int(r.Size()))
		}
		m := &Dict{Items: make([]DictItem, 0, n)}
		for i := 0; i < n; i++ {
			k, err := msgpackValue(d, r, budget, depth+1)
			if err != nil {
				return nil, err
			}
			// msgpack-python's strict_map_key: keys must be str or bytes.
			switch k.(type) {
			case string, []byte:
			default:
				return nil, mpErr(r, "map key of type %T", k)
			}
			if !budget.spend(dictItemCost(m, k)) {
				return nil, budget.err(ErrMsgpack, int(r.Size()))
			}
			v, err := msgpackValue(d, r, budget, depth+1)
			if err != nil {
				return nil, err
			}
			m.Set(k, v)
		}
		return m, nil
	}
	return nil, mpErr(r, "unsupported msgpack code 0x%02x", c)
}
