package wire

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// The neutral value model shared by both codecs:
//
//	nil          Python None (msgpack nil)
//	bool         bool
//	int64        int that fits in 64 signed bits
//	*big.Int     larger ints (only ever made by the decoders when needed)
//	float64      float
//	[]byte       bytes (pickle BINBYTES, msgpack bin)
//	string       str (pickle BINUNICODE, msgpack str)
//	Tuple        tuple (msgpack arrays decode as Tuple, like use_list=False)
//	List         list
//	*Dict        dict with insertion order kept, so replies are byte-identical
//	             to the Python server's
//	Global       an allowed pickle GLOBAL (decoding only)
//	*Object      the result of REDUCE / NEWOBJ (+ BUILD) on an allowed global
type (
	Tuple []any
	List  []any
)

// Global is a pickle GLOBAL reference that passed the allow-list.
type Global struct{ Module, Name string }

// Object is an instance built by REDUCE or NEWOBJ; State is what BUILD set
// (nil if no BUILD). The server only ever inspects these for ZopeUndo's
// Prefix (ZEO 6.0 marshal.server_find_global allows it); nothing is executed.
type Object struct {
	Class Global
	Args  Tuple
	State any
}

// DictItem is one key/value pair of a Dict.
type DictItem struct {
	Key, Value any
}

// Dict is an insertion-ordered dict. Python dicts keep insertion order and
// the Python server's replies (get_info, server_status, conflict dicts)
// depend on it for their exact bytes.
type Dict struct {
	Items []DictItem
	idx   map[string]int // hashKey -> index in Items, kept by Set
}

// hashKey gives keys that are equal under Python's rules for the key kinds
// ZEO uses (str, bytes, ints/bools, None, floats, small tuples of those) one
// string, so Set stays O(1). ok is false for unhashable or exotic keys.
func hashKey(k any, depth int) (string, bool) {
	if depth > 4 {
		return "", false
	}
	switch x := k.(type) {
	case nil:
		return "n", true
	case string:
		return "s" + x, true
	case []byte:
		return "b" + string(x), true
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
			return "i" + strconv.FormatInt(int64(x), 10), true
		}
		return "f" + strconv.FormatFloat(x, 'g', -1, 64), true
	case Tuple:
		var sb strings.Builder
		sb.WriteString("t(")
		for _, e := range x {
			h, ok := hashKey(e, depth+1)
			if !ok {
				return "", false
			}
			sb.WriteString(strconv.Itoa(len(h)))
			sb.WriteByte(':')
			sb.WriteString(h)
		}
		sb.WriteString(")")
		return sb.String(), true
	case Global:
		return "g" + x.Module + "\n" + x.Name, true
	}
	if s, ok := IntKey(k); ok {
		return "i" + s, true
	}
	return "", false
}

// NewDict builds a Dict from alternating key, value arguments.
func NewDict(kv ...any) *Dict {
	d := &Dict{}
	for i := 0; i+1 < len(kv); i += 2 {
		d.Items = append(d.Items, DictItem{kv[i], kv[i+1]})
	}
	return d
}

// Set replaces the value of key (compared with Equal) or appends it.
func (d *Dict) Set(key, value any) {
	if h, ok := hashKey(key, 0); ok {
		if d.idx == nil {
			d.idx = make(map[string]int, len(d.Items)+1)
			for i, it := range d.Items {
				if hi, ok := hashKey(it.Key, 0); ok {
					d.idx[hi] = i
				}
			}
		}
		if i, ok := d.idx[h]; ok {
			d.Items[i].Value = value
			return
		}
		d.idx[h] = len(d.Items)
		d.Items = append(d.Items, DictItem{key, value})
		return
	}
	for i := range d.Items {
		if Equal(d.Items[i].Key, key) {
			d.Items[i].Value = value
			return
		}
	}
	d.Items = append(d.Items, DictItem{key, value})
}

// Get returns the value stored under a str key.
func (d *Dict) Get(key string) (any, bool) {
	if d == nil {
		return nil, false
	}
	for _, it := range d.Items {
		if k, ok := AsString(it.Key); ok && k == key {
			return it.Value, true
		}
	}
	return nil, false
}

// Len is the number of items.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.Items)
}

// AsInt normalises an integer value. It accepts int64, the other Go integer
// kinds, bools (Python bools are ints) and *big.Int within int64 range.
func AsInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > 1<<63-1 {
			return 0, false
		}
		return int64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

// IntKey returns a canonical string form of any integer value (including
// *big.Int), used to compare client transaction ids, which are Python id()
// values of any size, so they are compared normalised.
func IntKey(v any) (string, bool) {
	if b, ok := v.(*big.Int); ok {
		return b.String(), true
	}
	if b, ok := v.(bool); ok {
		if b {
			return "1", true
		}
		return "0", true
	}
	if u, ok := v.(uint64); ok {
		return fmt.Sprint(u), true
	}
	if i, ok := AsInt(v); ok {
		return fmt.Sprint(i), true
	}
	return "", false
}

// AsBytes accepts bytes, and str for callers that take "bytes or str"
// (tpc_begin user/description: ZODB 5+ clients send bytes, older ones str).
func AsBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case []byte:
		return x, true
	case string:
		return []byte(x), true
	}
	return nil, false
}

// AsString accepts str, and bytes holding text (Python 2 peers send
// BINSTRING for text fields).
func AsString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// AsFloat accepts floats and ints.
func AsFloat(v any) (float64, bool) {
	if f, ok := v.(float64); ok {
		return f, true
	}
	if i, ok := AsInt(v); ok {
		return float64(i), true
	}
	return 0, false
}

// AsSeq accepts a Tuple or a List.
func AsSeq(v any) ([]any, bool) {
	switch x := v.(type) {
	case Tuple:
		return x, true
	case List:
		return x, true
	}
	return nil, false
}

// Truthy follows Python truthiness for the values that appear as flags.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case []byte:
		return len(x) != 0
	case float64:
		return x != 0
	case Tuple:
		return len(x) != 0
	case List:
		return len(x) != 0
	case *Dict:
		return x.Len() != 0
	}
	if i, ok := AsInt(v); ok {
		return i != 0
	}
	if b, ok := v.(*big.Int); ok {
		return b.Sign() != 0
	}
	return true
}

// Equal compares two values the way the replay tests need: ints by value
// whatever their Go type, Tuple and List distinct, dicts order-insensitive.
func Equal(a, b any) bool { return equal(a, b, 0) }

func equal(a, b any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	if ak, ok := IntKey(a); ok {
		if _, isBool := a.(bool); !isBool {
			if _, isBool := b.(bool); !isBool {
				bk, ok := IntKey(b)
				return ok && ak == bk
			}
		}
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (x != x && y != y)) // NaN equals NaN here
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case string:
		y, ok := b.(string)
		return ok && x == y
	case Tuple:
		y, ok := b.(Tuple)
		return ok && seqEqual(x, y, depth)
	case List:
		y, ok := b.(List)
		return ok && seqEqual(x, y, depth)
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
	outer:
		for _, it := range x.Items {
			for _, jt := range y.Items {
				if equal(it.Key, jt.Key, depth+1) {
					if !equal(it.Value, jt.Value, depth+1) {
						return false
					}
					continue outer
				}
			}
			return false
		}
		return true
	case Global:
		y, ok := b.(Global)
		return ok && x == y
	case *Object:
		y, ok := b.(*Object)
		return ok && x.Class == y.Class && seqEqual(x.Args, y.Args, depth) && equal(x.State, y.State, depth+1)
	}
	return false
}

func seqEqual(a, b []any, depth int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equal(a[i], b[i], depth+1) {
			return false
		}
	}
	return true
}

// Repr renders a value roughly like Python's repr(), for logs and test
// failure messages.
func Repr(v any) string {
	var sb strings.Builder
	repr(&sb, v)
	return sb.String()
}

func repr(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("None")
	case bool:
		if x {
			sb.WriteString("True")
		} else {
			sb.WriteString("False")
		}
	case []byte:
		sb.WriteString("b'")
		for _, c := range x {
			switch {
			case c == '\\' || c == '\'':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c >= 0x20 && c < 0x7f:
				sb.WriteByte(c)
			default:
				fmt.Fprintf(sb, "\\x%02x", c)
			}
		}
		sb.WriteString("'")
	case string:
		fmt.Fprintf(sb, "%q", x)
	case Tuple:
		sb.WriteString("(")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			repr(sb, e)
		}
		if len(x) == 1 {
			sb.WriteString(",")
		}
		sb.WriteString(")")
	case List:
		sb.WriteString("[")
		for i, e := range x {
			if i > 0 {
				sb.WriteString(", ")
			}
			repr(sb, e)
		}
		sb.WriteString("]")
	case *Dict:
		sb.WriteString("{")
		for i, it := range x.Items {
			if i > 0 {
				sb.WriteString(", ")
			}
			repr(sb, it.Key)
			sb.WriteString(": ")
			repr(sb, it.Value)
		}
		sb.WriteString("}")
	case Global:
		sb.WriteString(x.Module + "." + x.Name)
	case *Object:
		sb.WriteString(x.Class.Module + "." + x.Class.Name)
		repr(sb, x.Args)
		if x.State != nil {
			sb.WriteString("<state ")
			repr(sb, x.State)
			sb.WriteString(">")
		}
	case ClassRef:
		sb.WriteString(x.Module + "." + x.Name)
	case Reduce:
		repr(sb, x.Func)
		repr(sb, x.Args)
	default:
		fmt.Fprint(sb, x)
	}
}

// ClassRef and Reduce are values only the pickle encoder takes (the
// decoders never make them, so nothing a peer sent is re-sent as a
// global): ClassRef is written as GLOBAL, Reduce as its Func, its Args and
// REDUCE, which is how a Python server pickles an exception instance
// inside an error reply (ZODB's POSError.__reduce__ gives
// (_recon, (class, state))).
type ClassRef struct{ Module, Name string }

// Reduce: see ClassRef.
type Reduce struct {
	Func ClassRef
	Args Tuple
}
