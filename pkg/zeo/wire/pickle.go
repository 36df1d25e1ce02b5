package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrPickle is wrapped by every pickle decoding error.
var ErrPickle = errors.New("zeo: bad pickle")

// ErrUnsafeGlobal reports a GLOBAL outside the allow-list. ZEO's server
// logs "Can't deserialize message" and closes the connection for these.
var ErrUnsafeGlobal = errors.New("zeo: unsafe global in pickle")

// Pickle opcodes used here (Python's pickletools names).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	// protocol 4 opcodes, accepted for robustness
	opShortBinUnicode = 0x8c
	opBinUnicode8     = 0x8d
	opBinBytes8       = 0x8e
	opStackGlobal     = 0x93
	opMemoize         = 0x94
	opFrame           = 0x95
)

// ------------------------------------------------------------------ encoder

// EncodePickle marshals v the way ZEO's pickle encoder does:
// zodbpickle Pickler(protocol=3) with fast=1, i.e. no memo opcodes, bytes as
// (SHORT_)BINBYTES and no GLOBAL ever (a protocol-2 `_codecs.encode` makes
// the real client hang: its find_global refuses it). The output is byte-identical
// to Python's for the value model of this package.
func EncodePickle(v any) ([]byte, error) {
	buf := []byte{opProto, 3}
	buf, err := pickleAppend(buf, v, 0)
	if err != nil {
		return nil, err
	}
	return append(buf, opStop), nil
}

// maxDepth bounds recursion in the encoder and in value checks.
const maxDepth = 200

func pickleAppend(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("zeo: value nested deeper than %d", maxDepth)
	}
	var err error
	switch x := v.(type) {
	case nil:
		return append(b, opNone), nil
	case bool:
		if x {
			return append(b, opNewTrue), nil
		}
		return append(b, opNewFalse), nil
	case int:
		return pickleInt(b, int64(x)), nil
	case int64:
		return pickleInt(b, x), nil
	case int32:
		return pickleInt(b, int64(x)), nil
	case uint64:
		if x <= math.MaxInt64 {
			return pickleInt(b, int64(x)), nil
		}
		return pickleBig(b, new(big.Int).SetUint64(x)), nil
	case *big.Int:
		if x.IsInt64() {
			return pickleInt(b, x.Int64()), nil
		}
		return pickleBig(b, x), nil
	case float64:
		b = append(b, opBinFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(x)), nil
	case []byte:
		if len(x) <= 0xff {
			b = append(b, opShortBinBytes, byte(len(x)))
		} else {
			b = append(b, opBinBytes)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		}
		return append(b, x...), nil
	case string:
		b = append(b, opBinUnicode)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...), nil
	case Tuple:
		if len(x) == 0 {
			return append(b, opEmptyTuple), nil
		}
		if len(x) > 3 {
			b = append(b, opMark)
		}
		for _, e := range x {
			if b, err = pickleAppend(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		switch len(x) {
		case 1:
			return append(b, opTuple1), nil
		case 2:
			return append(b, opTuple2), nil
		case 3:
			return append(b, opTuple3), nil
		}
		return append(b, opTuple), nil
	case List:
		b = append(b, opEmptyList)
		// pickle's _batch_appends: batches of 1000, APPEND for a batch of one.
		for i := 0; i < len(x); i += 1000 {
			batch := x[i:min(i+1000, len(x))]
			if len(batch) > 1 {
				b = append(b, opMark)
			}
			for _, e := range batch {
				if b, err = pickleAppend(b, e, depth+1); err != nil {
					return nil, err
				}
			}
			if len(batch) > 1 {
				b = append(b, opAppends)
			} else {
				b = append(b, opAppend)
			}
		}
		return b, nil
	case *Dict:
		b = append(b, opEmptyDict)
		if x == nil {
			return b, nil
		}
		for i := 0; i < len(x.Items); i += 1000 {
			batch := x.Items[i:min(i+1000, len(x.Items))]
			if len(batch) > 1 {
				b = append(b, opMark)
			}
			for _, it := range batch {
				if b, err = pickleAppend(b, it.Key, depth+1); err != nil {
					return nil, err
				}
				if b, err = pickleAppend(b, it.Value, depth+1); err != nil {
					return nil, err
				}
			}
			if len(batch) > 1 {
				b = append(b, opSetItems)
			} else {
				b = append(b, opSetItem)
			}
		}
		return b, nil
	case ClassRef:
		// protocol 3 save_global: GLOBAL "module\nname\n".
		if strings.ContainsAny(x.Module+x.Name, "\n") || x.Module == "" || x.Name == "" {
			return nil, fmt.Errorf("zeo: cannot marshal global %q.%q", x.Module, x.Name)
		}
		b = append(b, opGlobal)
		b = append(b, x.Module...)
		b = append(b, '\n')
		b = append(b, x.Name...)
		return append(b, '\n'), nil
	case Reduce:
		// protocol 3 save_reduce of a (callable, args) __reduce__ result:
		// the callable, the args tuple, REDUCE. ZEO's server sends ZODB
		// exception instances this way inside MultipleUndoErrors.
		if b, err = pickleAppend(b, x.Func, depth+1); err != nil {
			return nil, err
		}
		if b, err = pickleAppend(b, x.Args, depth+1); err != nil {
			return nil, err
		}
		return append(b, opReduce), nil
	}
	return nil, fmt.Errorf("zeo: cannot marshal %T", v)
}

// pickleInt follows pickle.py save_long for protocol >= 2.
func pickleInt(b []byte, i int64) []byte {
	switch {
	case i >= 0 && i <= 0xff:
		return append(b, opBinInt1, byte(i))
	case i >= 0 && i <= 0xffff:
		return append(b, opBinInt2, byte(i), byte(i>>8))
	case i >= math.MinInt32 && i <= math.MaxInt32:
		b = append(b, opBinInt)
		return binary.LittleEndian.AppendUint32(b, uint32(int32(i)))
	}
	return pickleBig(b, big.NewInt(i))
}

// pickleBig writes LONG1/LONG4 with pickle.encode_long's minimal
// little-endian two's complement.
func pickleBig(b []byte, x *big.Int) []byte {
	enc := encodeLong(x)
	if len(enc) < 256 {
		b = append(b, opLong1, byte(len(enc)))
	} else {
		b = append(b, opLong4)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(enc)))
	}
	return append(b, enc...)
}

func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	nbytes := x.BitLen()>>3 + 1
	out := make([]byte, nbytes)
	// two's complement in nbytes bytes
	v := new(big.Int).Set(x)
	if v.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*nbytes)))
	}
	be := v.Bytes()
	for i := 0; i < len(be) && i < nbytes; i++ {
		out[i] = be[len(be)-1-i]
	}
	if x.Sign() < 0 && nbytes > 1 && out[nbytes-1] == 0xff && out[nbytes-2]&0x80 != 0 {
		out = out[:nbytes-1]
	}
	return out
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[i] = b[len(b)-1-i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return normInt(x)
}

func normInt(x *big.Int) any {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// ------------------------------------------------------------------ decoder

// allowedModules mirrors ZEO 6.0's marshal.server_find_global:
// only these modules may be named by a GLOBAL. Nothing named is ever
// imported or called; the decoder builds inert Global/Object values.
var allowedModules = map[string]bool{
	"ZopeUndo.Prefix": true,
	"zodbpickle":      true,
	"builtins":        true,
	"copy_reg":        true,
	"__builtin__":     true,
	// The client side of ZEO (find_global) also accepts exception
	// classes; ZODB's are the ones a server puts inside an error reply
	// (MultipleUndoErrors carries UndoError instances). Still inert.
	"ZODB.POSException": true,
}

// maxLongText bounds text-form and LONG4 integers; ZEO traffic never has
// ints longer than 20 digits, and big.Int parsing is superlinear.
const maxLongText = 4096

type markT struct{}

var mark = markT{}

type pdec struct {
	data  []byte
	pos   int
	stack []any
	memo  map[int64]any
	// budget bounds the values built (ErrValueBudget); push charges it
	// and run checks it once per opcode.
	budget valueBudget
}

// DecodePickle unmarshals one pickle (protocols 0-3, and the protocol 4
// opcodes that a plain value can use). It never panics and allocates at
// most a small multiple of len(data).
func DecodePickle(data []byte) (v any, err error) {
	d := &pdec{data: data, memo: map[int64]any{}, budget: newValueBudget(len(data))}
	v, err = d.run()
	if err != nil {
		return nil, err
	}
	budget := 16*len(data) + 1024
	if err := checkTree(v, 0, &budget); err != nil {
		return nil, err
	}
	return v, nil
}

// checkTree rejects cyclic or pathologically shared values that memo
// opcodes can build, so that later walks (encode, Equal, Repr) terminate.
func checkTree(v any, depth int, budget *int) error {
	*budget--
	if depth > maxDepth || *budget < 0 {
		return fmt.Errorf("%w: value too deep or too large", ErrPickle)
	}
	switch x := v.(type) {
	case Tuple:
		for _, e := range x {
			if err := checkTree(e, depth+1, budget); err != nil {
				return err
			}
		}
	case List:
		for _, e := range x {
			if err := checkTree(e, depth+1, budget); err != nil {
				return err
			}
		}
	case *Dict:
		for _, it := range x.Items {
			if err := checkTree(it.Key, depth+1, budget); err != nil {
				return err
			}
			if err := checkTree(it.Value, depth+1, budget); err != nil {
				return err
			}
		}
	case *Object:
		if err := checkTree(x.Args, depth+1, budget); err != nil {
			return err
		}
		return checkTree(x.State, depth+1, budget)
	}
	return nil
}

func (d *pdec) errf(format string, a ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrPickle, d.pos, fmt.Sprintf(format, a...))
}

func (d *pdec) need(n int) ([]byte, error) {
	if n < 0 || n > len(d.data)-d.pos {
		return nil, d.errf("truncated (need %d bytes)", n)
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *pdec) line() ([]byte, error) {
	for i := d.pos; i < len(d.data); i++ {
		if d.data[i] == '\n' {
			b := d.data[d.pos:i]
			d.pos = i + 1
			return b, nil
		}
	}
	return nil, d.errf("unterminated line")
}

func (d *pdec) push(v any) {
	d.budget.spend(valueCost(v))
	d.stack = append(d.stack, v)
}

func (d *pdec) pop() (any, error) {
	if len(d.stack) == 0 {
		return nil, d.errf("stack underflow")
	}
	v := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	if v == mark {
		return nil, d.errf("unexpected mark")
	}
	return v, nil
}

func (d *pdec) top() (*any, error) {
	if len(d.stack) == 0 || d.stack[len(d.stack)-1] == mark {
		return nil, d.errf("stack underflow")
	}
	return &d.stack[len(d.stack)-1], nil
}

// popMark returns the items above the topmost mark and removes them and it.
func (d *pdec) popMark() ([]any, error) {
	for i := len(d.stack) - 1; i >= 0; i-- {
		if d.stack[i] == mark {
			items := append([]any(nil), d.stack[i+1:]...)
			d.stack = d.stack[:i]
			return items, nil
		}
	}
	return nil, d.errf("mark not found")
}

func (d *pdec) lenPrefixed(n int) ([]byte, error) {
	if n < 0 {
		return nil, d.errf("negative length")
	}
	return d.need(n)
}

func (d *pdec) u32() (int, error) {
	b, err := d.need(4)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

func (d *pdec) u64len() (int, error) {
	b, err := d.need(8)
	if err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(d.data)) {
		return 0, d.errf("length %d beyond data", n)
	}
	return int(n), nil
}

func (d *pdec) text(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", d.errf("invalid UTF-8 in str")
	}
	return string(b), nil
}

func (d *pdec) run() (any, error) {
	for {
		if d.budget.left < 0 {
			return nil, d.budget.err(ErrPickle, len(d.data))
		}
		if d.pos >= len(d.data) {
			return nil, d.errf("no STOP opcode")
		}
		op := d.data[d.pos]
		d.pos++
		switch op {
		case opProto:
			b, err := d.need(1)
			if err != nil {
				return nil, err
			}
			if b[0] > 5 {
				return nil, d.errf("unsupported protocol %d", b[0])
			}
		case opFrame:
			if _, err := d.need(8); err != nil {
				return nil, err
			}
		case opStop:
			v, err := d.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		case opMark:
			d.push(mark)
		case opPop:
			if len(d.stack) == 0 {
				return nil, d.errf("stack underflow")
			}
			d.stack = d.stack[:len(d.stack)-1]
		case opPopMark:
			if _, err := d.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			d.push(*t)
		case opNone:
			d.push(nil)
		case opNewTrue:
			d.push(true)
		case opNewFalse:
			d.push(false)
		case opBinInt:
			b, err := d.need(4)
			if err != nil {
				return nil, err
			}
			d.push(int64(int32(binary.LittleEndian.Uint32(b))))
		case opBinInt1:
			b, err := d.need(1)
			if err != nil {
				return nil, err
			}
			d.push(int64(b[0]))
		case opBinInt2:
			b, err := d.need(2)
			if err != nil {
				return nil, err
			}
			d.push(int64(binary.LittleEndian.Uint16(b)))
		case opInt, opLong:
			b, err := d.line()
			if err != nil {
				return nil, err
			}
			if len(b) > maxLongText {
				return nil, d.errf("integer text too long")
			}
			s := string(b)
			if op == opInt && s == "00" {
				d.push(false)
				break
			}
			if op == opInt && s == "01" {
				d.push(true)
				break
			}
			if op == opLong && len(s) > 0 && s[len(s)-1] == 'L' {
				s = s[:len(s)-1]
			}
			x, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return nil, d.errf("bad integer %q", s)
			}
			d.push(normInt(x))
		case opLong1:
			b, err := d.need(1)
			if err != nil {
				return nil, err
			}
			body, err := d.need(int(b[0]))
			if err != nil {
				return nil, err
			}
			d.push(decodeLong(body))
		case opLong4:
			n, err := d.u32()
			if err != nil {
				return nil, err
			}
			if n > maxLongText {
				return nil, d.errf("LONG4 too long")
			}
			body, err := d.need(n)
			if err != nil {
				return nil, err
			}
			d.push(decodeLong(body))
		case opFloat:
			b, err := d.line()
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(string(b), 64)
			if err != nil {
				return nil, d.errf("bad float %q", b)
			}
			d.push(f)
		case opBinFloat:
			b, err := d.need(8)
			if err != nil {
				return nil, err
			}
			d.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case opShortBinBytes, opShortBinString:
			n, err := d.need(1)
			if err != nil {
				return nil, err
			}
			b, err := d.need(int(n[0]))
			if err != nil {
				return nil, err
			}
			// py2 str (SHORT_BINSTRING) stays bytes; text fields accept
			// bytes through AsString (Python 2 clients send str as bytes).
			d.push(append([]byte(nil), b...))
		case opBinBytes, opBinString:
			n, err := d.u32()
			if err != nil {
				return nil, err
			}
			if op == opBinString && n >= 1<<31 {
				return nil, d.errf("negative BINSTRING length")
			}
			b, err := d.lenPrefixed(n)
			if err != nil {
				return nil, err
			}
			d.push(append([]byte(nil), b...))
		case opBinBytes8:
			n, err := d.u64len()
			if err != nil {
				return nil, err
			}
			b, err := d.need(n)
			if err != nil {
				return nil, err
			}
			d.push(append([]byte(nil), b...))
		case opString:
			b, err := d.line()
			if err != nil {
				return nil, err
			}
			s, err := unquotePy(b)
			if err != nil {
				return nil, d.errf("bad STRING: %v", err)
			}
			d.push(s)
		case opBinUnicode:
			n, err := d.u32()
			if err != nil {
				return nil, err
			}
			b, err := d.lenPrefixed(n)
			if err != nil {
				return nil, err
			}
			s, err := d.text(b)
			if err != nil {
				return nil, err
			}
			d.push(s)
		case opShortBinUnicode:
			n, err := d.need(1)
			if err != nil {
				return nil, err
			}
			b, err := d.need(int(n[0]))
			if err != nil {
				return nil, err
			}
			s, err := d.text(b)
			if err != nil {
				return nil, err
			}
			d.push(s)
		case opBinUnicode8:
			n, err := d.u64len()
			if err != nil {
				return nil, err
			}
			b, err := d.need(n)
			if err != nil {
				return nil, err
			}
			s, err := d.text(b)
			if err != nil {
				return nil, err
			}
			d.push(s)
		case opUnicode:
			b, err := d.line()
			if err != nil {
				return nil, err
			}
			s, err := unescapeRawUnicode(b)
			if err != nil {
				return nil, d.errf("bad UNICODE: %v", err)
			}
			d.push(s)
		case opEmptyTuple:
			d.push(Tuple{})
		case opTuple:
			items, err := d.popMark()
			if err != nil {
				return nil, err
			}
			d.push(Tuple(items))
		case opTuple1, opTuple2, opTuple3:
			n := int(op - opTuple1 + 1)
			if len(d.stack) < n {
				return nil, d.errf("stack underflow")
			}
			items := make(Tuple, n)
			for i := n - 1; i >= 0; i-- {
				v, err := d.pop()
				if err != nil {
					return nil, err
				}
				items[i] = v
			}
			d.push(items)
		case opEmptyList:
			d.push(List{})
		case opList:
			items, err := d.popMark()
			if err != nil {
				return nil, err
			}
			d.push(List(items))
		case opAppend:
			v, err := d.pop()
			if err != nil {
				return nil, err
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			l, ok := (*t).(List)
			if !ok {
				return nil, d.errf("APPEND to %T", *t)
			}
			*t = append(l, v)
		case opAppends:
			items, err := d.popMark()
			if err != nil {
				return nil, err
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			l, ok := (*t).(List)
			if !ok {
				return nil, d.errf("APPENDS to %T", *t)
			}
			*t = append(l, items...)
		case opEmptyDict:
			d.push(&Dict{})
		case opDict:
			items, err := d.popMark()
			if err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, d.errf("odd DICT item count")
			}
			dict := &Dict{}
			for i := 0; i < len(items); i += 2 {
				if err := d.setItem(dict, items[i], items[i+1]); err != nil {
					return nil, err
				}
			}
			d.push(dict)
		case opSetItem:
			val, err := d.pop()
			if err != nil {
				return nil, err
			}
			key, err := d.pop()
			if err != nil {
				return nil, err
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			dict, ok := (*t).(*Dict)
			if !ok {
				return nil, d.errf("SETITEM on %T", *t)
			}
			if err := d.setItem(dict, key, val); err != nil {
				return nil, err
			}
		case opSetItems:
			items, err := d.popMark()
			if err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, d.errf("odd SETITEMS item count")
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			dict, ok := (*t).(*Dict)
			if !ok {
				return nil, d.errf("SETITEMS on %T", *t)
			}
			for i := 0; i < len(items); i += 2 {
				if err := d.setItem(dict, items[i], items[i+1]); err != nil {
					return nil, err
				}
			}
		case opPut, opBinPut, opLongBinPut, opMemoize:
			var idx int64
			switch op {
			case opPut:
				b, err := d.line()
				if err != nil {
					return nil, err
				}
				n, err := strconv.ParseInt(string(b), 10, 64)
				if err != nil {
					return nil, d.errf("bad PUT index")
				}
				idx = n
			case opBinPut:
				b, err := d.need(1)
				if err != nil {
					return nil, err
				}
				idx = int64(b[0])
			case opLongBinPut:
				n, err := d.u32()
				if err != nil {
					return nil, err
				}
				idx = int64(n)
			case opMemoize:
				idx = int64(len(d.memo))
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			d.memo[idx] = *t
		case opGet, opBinGet, opLongBinGet:
			var idx int64
			switch op {
			case opGet:
				b, err := d.line()
				if err != nil {
					return nil, err
				}
				n, err := strconv.ParseInt(string(b), 10, 64)
				if err != nil {
					return nil, d.errf("bad GET index")
				}
				idx = n
			case opBinGet:
				b, err := d.need(1)
				if err != nil {
					return nil, err
				}
				idx = int64(b[0])
			default:
				n, err := d.u32()
				if err != nil {
					return nil, err
				}
				idx = int64(n)
			}
			v, ok := d.memo[idx]
			if !ok {
				return nil, d.errf("memo key %d missing", idx)
			}
			// A memo get shares the value: only its slot is new.
			d.budget.spend(16)
			d.stack = append(d.stack, v)
		case opGlobal:
			mod, err := d.line()
			if err != nil {
				return nil, err
			}
			name, err := d.line()
			if err != nil {
				return nil, err
			}
			g, err := d.global(string(mod), string(name))
			if err != nil {
				return nil, err
			}
			d.push(g)
		case opStackGlobal:
			nameV, err := d.pop()
			if err != nil {
				return nil, err
			}
			modV, err := d.pop()
			if err != nil {
				return nil, err
			}
			mod, ok1 := modV.(string)
			name, ok2 := nameV.(string)
			if !ok1 || !ok2 {
				return nil, d.errf("STACK_GLOBAL needs str operands")
			}
			g, err := d.global(mod, name)
			if err != nil {
				return nil, err
			}
			d.push(g)
		case opReduce, opNewObj:
			argsV, err := d.pop()
			if err != nil {
				return nil, err
			}
			clsV, err := d.pop()
			if err != nil {
				return nil, err
			}
			cls, ok := clsV.(Global)
			if !ok {
				return nil, d.errf("REDUCE/NEWOBJ on %T", clsV)
			}
			args, ok := argsV.(Tuple)
			if !ok {
				return nil, d.errf("REDUCE/NEWOBJ args are %T, not a tuple", argsV)
			}
			d.push(reduce(cls, args))
		case opBuild:
			state, err := d.pop()
			if err != nil {
				return nil, err
			}
			t, err := d.top()
			if err != nil {
				return nil, err
			}
			obj, ok := (*t).(*Object)
			if !ok {
				return nil, d.errf("BUILD on %T", *t)
			}
			obj.State = state
		case opPersID, opBinPersID:
			return nil, d.errf("persistent ids are not allowed in ZEO messages")
		default:
			return nil, d.errf("unsupported opcode 0x%02x", op)
		}
	}
}

func (d *pdec) setItem(dict *Dict, k, v any) error {
	if _, ok := hashKey(k, 0); !ok {
		return d.errf("unsupported dict key %T", k)
	}
	dict.Set(k, v)
	return nil
}

func (d *pdec) global(mod, name string) (Global, error) {
	if !allowedModules[mod] {
		return Global{}, fmt.Errorf("%w: %s.%s", ErrUnsafeGlobal, mod, name)
	}
	return Global{Module: mod, Name: name}, nil
}

// reduce gives meaning to the few allowed constructors that carry plain
// data: zodbpickle.binary (Python 2 bytes under protocol 1) and
// builtins.bytes/bytearray. Everything else stays an inert Object.
func reduce(cls Global, args Tuple) any {
	if (cls == Global{"zodbpickle", "binary"} || cls.Name == "bytes" || cls.Name == "bytearray") && len(args) <= 1 {
		if len(args) == 0 {
			return []byte{}
		}
		if b, ok := AsBytes(args[0]); ok {
			return append([]byte(nil), b...)
		}
	}
	return &Object{Class: cls, Args: args}
}

// unquotePy decodes protocol-0 STRING's repr form ('...' or "...").
func unquotePy(b []byte) ([]byte, error) {
	if len(b) < 2 || (b[0] != '\'' && b[0] != '"') || b[len(b)-1] != b[0] {
		return nil, errors.New("not quoted")
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(b) {
			return nil, errors.New("trailing backslash")
		}
		switch b[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case '\\', '\'', '"':
			out = append(out, b[i])
		case 'x':
			if i+2 >= len(b) {
				return nil, errors.New("short \\x escape")
			}
			n, err := strconv.ParseUint(string(b[i+1:i+3]), 16, 8)
			if err != nil {
				return nil, err
			}
			out = append(out, byte(n))
			i += 2
		default:
			return nil, fmt.Errorf("unknown escape \\%c", b[i])
		}
	}
	return out, nil
}

// unescapeRawUnicode decodes protocol-0 UNICODE (raw-unicode-escape).
func unescapeRawUnicode(b []byte) (string, error) {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U') {
			n := 4
			if b[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(b) {
				return "", errors.New("short unicode escape")
			}
			r, err := strconv.ParseUint(string(b[i+2:i+2+n]), 16, 32)
			if err != nil {
				return "", err
			}
			out = append(out, rune(r))
			i += 1 + n
			continue
		}
		out = append(out, rune(b[i]))
	}
	return string(out), nil
}
