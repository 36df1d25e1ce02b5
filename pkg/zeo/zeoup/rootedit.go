package zeoup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// This file edits the root object's pickle the way a Python client that
// loaded the root, set root['zeoup'] and committed would rewrite it.
//
// A ZODB data record is two pickles written by one zodbpickle Pickler
// (protocol 3, memo on, memo cleared before the first): the class
// metadata, then the state. For the root, a persistent.mapping
// PersistentMapping, the state is {'data': {key: value, ...}}; persistent
// references are BINPERSID of (oid, class) tuples whose class is often a
// BINGET of the metadata's GLOBAL.
//
// The record is decoded into a graph that keeps object identity (a BINGET
// yields the very node that was put), re-encoded by the rules of
// CPython's C Pickler, and used only when that re-encoding reproduces the
// original bytes exactly. Then the only difference in the edited record is
// the 'zeoup' item, written as Python would write it, and nothing the
// codec does not understand can be lost. Anything else (older protocols,
// other root classes, opcodes outside the set below, a non-int
// root['zeoup']) is reported as errNotEditable and zeoup falls back to an
// empty transaction.

var errNotEditable = errors.New("root not editable")

func notEditable(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errNotEditable, fmt.Sprintf(format, a...))
}

type gkind uint8

const (
	gScalar gkind = iota // None, bool, int, float: never memoized
	gStr
	gBytes
	gTuple
	gList
	gDict
	gGlobal
	gPersID // BINPERSID of kids[0]; not memoized itself
	gReduce // kids[0](*kids[1]); kids[2] = BUILD state if any
	gNewObj // kids[0].__new__(kids[0], *kids[1]); kids[2] = state
	gMark   // decoder-only stack marker
)

type gnode struct {
	kind     gkind
	val      any // scalars, str (string), bytes ([]byte)
	mod, nam string
	kids     []*gnode // tuple/list elements, dict keys and values alternating
	hasState bool
	memo     int // encoder: memo index once written, -1 before
}

// decodeRecord decodes the two pickles of a data record with one memo.
func decodeRecord(rec []byte) (meta, state *gnode, err error) {
	d := &gdec{data: rec, memo: map[int]*gnode{}}
	if meta, err = d.pickle(); err != nil {
		return nil, nil, err
	}
	if state, err = d.pickle(); err != nil {
		return nil, nil, err
	}
	if d.pos != len(d.data) {
		return nil, nil, notEditable("%d bytes after the state pickle", len(d.data)-d.pos)
	}
	return meta, state, nil
}

type gdec struct {
	data  []byte
	pos   int
	stack []*gnode
	memo  map[int]*gnode
	nodes int
	keys  map[*gnode]map[string]bool // per dict: its str/bytes keys
}

func (d *gdec) need(n int) ([]byte, error) {
	if n < 0 || len(d.data)-d.pos < n {
		return nil, notEditable("truncated pickle at %d", d.pos)
	}
	b := d.data[d.pos : d.pos+n]
	d.pos += n
	return b, nil
}

func (d *gdec) pop() (*gnode, error) {
	if len(d.stack) == 0 || d.stack[len(d.stack)-1].kind == gMark {
		return nil, notEditable("stack underflow at %d", d.pos)
	}
	n := d.stack[len(d.stack)-1]
	d.stack = d.stack[:len(d.stack)-1]
	return n, nil
}

func (d *gdec) popMark() ([]*gnode, error) {
	for i := len(d.stack) - 1; i >= 0; i-- {
		if d.stack[i].kind == gMark {
			items := append([]*gnode(nil), d.stack[i+1:]...)
			d.stack = d.stack[:i]
			return items, nil
		}
	}
	return nil, notEditable("no mark at %d", d.pos)
}

func (d *gdec) push(n *gnode) error {
	d.nodes++
	if d.nodes > 1<<20 {
		return notEditable("too many objects")
	}
	d.stack = append(d.stack, n)
	return nil
}

func (d *gdec) top(kind gkind) (*gnode, error) {
	if len(d.stack) == 0 || d.stack[len(d.stack)-1].kind != kind {
		return nil, notEditable("unexpected opcode at %d", d.pos-1)
	}
	return d.stack[len(d.stack)-1], nil
}

func (d *gdec) u32() (int, error) {
	b, err := d.need(4)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

// pickle decodes one protocol-3 pickle up to its STOP.
func (d *gdec) pickle() (*gnode, error) {
	b, err := d.need(2)
	if err != nil {
		return nil, err
	}
	if b[0] != 0x80 || b[1] != 3 {
		return nil, notEditable("not a protocol 3 pickle at %d", d.pos-2)
	}
	d.stack = d.stack[:0]
	for {
		ob, err := d.need(1)
		if err != nil {
			return nil, err
		}
		op := ob[0]
		switch op {
		case '.': // STOP
			n, err := d.pop()
			if err != nil {
				return nil, err
			}
			if len(d.stack) != 0 {
				return nil, notEditable("stack not empty at STOP")
			}
			return n, nil
		case '(':
			d.stack = append(d.stack, &gnode{kind: gMark})
		case 'N':
			err = d.push(&gnode{kind: gScalar, val: nil})
		case 0x88, 0x89:
			err = d.push(&gnode{kind: gScalar, val: op == 0x88})
		case 'K':
			b, err2 := d.need(1)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gScalar, val: int64(b[0])})
		case 'M':
			b, err2 := d.need(2)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gScalar, val: int64(binary.LittleEndian.Uint16(b))})
		case 'J':
			b, err2 := d.need(4)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gScalar, val: int64(int32(binary.LittleEndian.Uint32(b)))})
		case 0x8a: // LONG1
			nb, err2 := d.need(1)
			if err2 != nil {
				return nil, err2
			}
			b, err2 := d.need(int(nb[0]))
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gScalar, val: decodeLong(b)})
		case 'G':
			b, err2 := d.need(8)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gScalar, val: math.Float64frombits(binary.BigEndian.Uint64(b))})
		case 'X':
			n, err2 := d.u32()
			if err2 != nil {
				return nil, err2
			}
			b, err2 := d.need(n)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gStr, val: string(b)})
		case 'C', 'B':
			var n int
			if op == 'C' {
				nb, err2 := d.need(1)
				if err2 != nil {
					return nil, err2
				}
				n = int(nb[0])
			} else if n, err = d.u32(); err != nil {
				return nil, err
			}
			b, err2 := d.need(n)
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gBytes, val: append([]byte(nil), b...)})
		case ')':
			err = d.push(&gnode{kind: gTuple})
		case 0x85, 0x86, 0x87:
			n := int(op-0x85) + 1
			if len(d.stack) < n {
				return nil, notEditable("stack underflow at %d", d.pos)
			}
			kids := append([]*gnode(nil), d.stack[len(d.stack)-n:]...)
			for _, k := range kids {
				if k.kind == gMark {
					return nil, notEditable("mark in tuple at %d", d.pos)
				}
			}
			d.stack = d.stack[:len(d.stack)-n]
			err = d.push(&gnode{kind: gTuple, kids: kids})
		case 't':
			items, err2 := d.popMark()
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gTuple, kids: items})
		case ']':
			err = d.push(&gnode{kind: gList})
		case '}':
			err = d.push(&gnode{kind: gDict})
		case 'a':
			v, err2 := d.pop()
			if err2 != nil {
				return nil, err2
			}
			l, err2 := d.top(gList)
			if err2 != nil {
				return nil, err2
			}
			l.kids = append(l.kids, v)
		case 'e':
			items, err2 := d.popMark()
			if err2 != nil {
				return nil, err2
			}
			l, err2 := d.top(gList)
			if err2 != nil {
				return nil, err2
			}
			l.kids = append(l.kids, items...)
		case 's', 'u':
			var items []*gnode
			if op == 's' {
				v, err2 := d.pop()
				if err2 != nil {
					return nil, err2
				}
				k, err2 := d.pop()
				if err2 != nil {
					return nil, err2
				}
				items = []*gnode{k, v}
			} else if items, err = d.popMark(); err != nil {
				return nil, err
			}
			if len(items)%2 != 0 {
				return nil, notEditable("odd SETITEMS at %d", d.pos)
			}
			dn, err2 := d.top(gDict)
			if err2 != nil {
				return nil, err2
			}
			for i := 0; i < len(items); i += 2 {
				if d.setItem(dn, items[i], items[i+1]) {
					// A repeated key: Python keeps one item, so the
					// re-encoding could not reproduce the bytes.
					return nil, notEditable("repeated dict key")
				}
			}
		case 'q', 'r':
			var idx int
			if op == 'q' {
				b, err2 := d.need(1)
				if err2 != nil {
					return nil, err2
				}
				idx = int(b[0])
			} else if idx, err = d.u32(); err != nil {
				return nil, err
			}
			if len(d.stack) == 0 || d.stack[len(d.stack)-1].kind == gMark {
				return nil, notEditable("PUT on an empty stack")
			}
			d.memo[idx] = d.stack[len(d.stack)-1]
		case 'h', 'j':
			var idx int
			if op == 'h' {
				b, err2 := d.need(1)
				if err2 != nil {
					return nil, err2
				}
				idx = int(b[0])
			} else if idx, err = d.u32(); err != nil {
				return nil, err
			}
			n, ok := d.memo[idx]
			if !ok {
				return nil, notEditable("GET of unknown memo %d", idx)
			}
			d.stack = append(d.stack, n)
		case 'c':
			mod, err2 := d.line()
			if err2 != nil {
				return nil, err2
			}
			nam, err2 := d.line()
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gGlobal, mod: mod, nam: nam})
		case 'Q':
			pid, err2 := d.pop()
			if err2 != nil {
				return nil, err2
			}
			err = d.push(&gnode{kind: gPersID, kids: []*gnode{pid}})
		case 'R', 0x81:
			args, err2 := d.pop()
			if err2 != nil {
				return nil, err2
			}
			fn, err2 := d.pop()
			if err2 != nil {
				return nil, err2
			}
			if args.kind != gTuple {
				return nil, notEditable("REDUCE arguments are not a tuple")
			}
			k := gReduce
			if op == 0x81 {
				k = gNewObj
			}
			err = d.push(&gnode{kind: k, kids: []*gnode{fn, args, nil}})
		case 'b':
			st, err2 := d.pop()
			if err2 != nil {
				return nil, err2
			}
			if len(d.stack) == 0 {
				return nil, notEditable("BUILD on an empty stack")
			}
			o := d.stack[len(d.stack)-1]
			if (o.kind != gReduce && o.kind != gNewObj) || o.hasState {
				return nil, notEditable("BUILD on an unsupported object")
			}
			o.kids[2], o.hasState = st, true
		default:
			return nil, notEditable("opcode 0x%02x at %d", op, d.pos-1)
		}
		if err != nil {
			return nil, err
		}
	}
}

func (d *gdec) line() (string, error) {
	i := bytes.IndexByte(d.data[d.pos:], '\n')
	if i < 0 {
		return "", notEditable("unterminated GLOBAL at %d", d.pos)
	}
	s := string(d.data[d.pos : d.pos+i])
	d.pos += i + 1
	return s, nil
}

// setItem adds an item; it reports whether the key was already there.
// str and bytes keys are looked up in an index, so big roots stay linear.
func (d *gdec) setItem(dn *gnode, k, v *gnode) bool {
	if k.kind == gStr || k.kind == gBytes {
		if d.keys == nil {
			d.keys = map[*gnode]map[string]bool{}
		}
		idx := d.keys[dn]
		if idx == nil {
			idx = map[string]bool{}
			d.keys[dn] = idx
		}
		h := "s"
		if k.kind == gStr {
			h += k.val.(string)
		} else {
			h = "b" + string(k.val.([]byte))
		}
		if idx[h] {
			return true
		}
		idx[h] = true
		dn.kids = append(dn.kids, k, v)
		return false
	}
	for i := 0; i < len(dn.kids); i += 2 {
		if sameKey(dn.kids[i], k) {
			dn.kids[i+1] = v
			return true
		}
	}
	dn.kids = append(dn.kids, k, v)
	return false
}

func sameKey(a, b *gnode) bool {
	if a == b {
		return true
	}
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case gStr:
		return a.val.(string) == b.val.(string)
	case gBytes:
		return bytes.Equal(a.val.([]byte), b.val.([]byte))
	case gScalar:
		return wire.Equal(a.val, b.val)
	}
	return false
}

func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// encodeRecord writes meta and state as ZODB's ObjectWriter does: one
// Pickler, memo cleared before the first dump, protocol 3.
func encodeRecord(meta, state *gnode) ([]byte, error) {
	resetMemo(meta, map[*gnode]bool{})
	resetMemo(state, map[*gnode]bool{})
	e := &genc{}
	for _, n := range []*gnode{meta, state} {
		e.buf = append(e.buf, 0x80, 3)
		if err := e.save(n, 0); err != nil {
			return nil, err
		}
		e.buf = append(e.buf, '.')
	}
	return e.buf, nil
}

func resetMemo(n *gnode, seen map[*gnode]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.memo = -1
	for _, k := range n.kids {
		resetMemo(k, seen)
	}
}

type genc struct {
	buf []byte
	n   int
}

func (e *genc) put(n *gnode) {
	n.memo = e.n
	e.n++
	if n.memo < 256 {
		e.buf = append(e.buf, 'q', byte(n.memo))
	} else {
		e.buf = append(e.buf, 'r')
		e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n.memo))
	}
}

// wireOp is the opcode bytes EncodePickle writes for a single value
// (without PROTO and STOP): the scalar and str/bytes encodings are the
// same with or without a memo.
func wireOp(v any) ([]byte, error) {
	b, err := wire.EncodePickle(v)
	if err != nil {
		return nil, err
	}
	return b[2 : len(b)-1], nil
}

func (e *genc) save(n *gnode, depth int) error {
	if depth > 200 {
		return notEditable("nested too deeply")
	}
	if n.kind == gScalar {
		b, err := wireOp(n.val)
		if err != nil {
			return notEditable("%v", err)
		}
		e.buf = append(e.buf, b...)
		return nil
	}
	if n.memo >= 0 {
		if n.memo < 256 {
			e.buf = append(e.buf, 'h', byte(n.memo))
		} else {
			e.buf = append(e.buf, 'j')
			e.buf = binary.LittleEndian.AppendUint32(e.buf, uint32(n.memo))
		}
		return nil
	}
	switch n.kind {
	case gStr, gBytes:
		b, err := wireOp(n.val)
		if err != nil {
			return notEditable("%v", err)
		}
		e.buf = append(e.buf, b...)
		e.put(n)
	case gTuple:
		if len(n.kids) == 0 {
			e.buf = append(e.buf, ')')
			return nil
		}
		if len(n.kids) > 3 {
			e.buf = append(e.buf, '(')
		}
		for _, k := range n.kids {
			if err := e.save(k, depth+1); err != nil {
				return err
			}
		}
		if n.memo >= 0 { // the tuple was reached through itself
			return notEditable("recursive tuple")
		}
		switch len(n.kids) {
		case 1, 2, 3:
			e.buf = append(e.buf, byte(0x85+len(n.kids)-1))
		default:
			e.buf = append(e.buf, 't')
		}
		e.put(n)
	case gList:
		e.buf = append(e.buf, ']')
		e.put(n)
		if len(n.kids) == 1 {
			if err := e.save(n.kids[0], depth+1); err != nil {
				return err
			}
			e.buf = append(e.buf, 'a')
			return nil
		}
		for i := 0; i < len(n.kids); i += 1000 {
			e.buf = append(e.buf, '(')
			for _, k := range n.kids[i:min(i+1000, len(n.kids))] {
				if err := e.save(k, depth+1); err != nil {
					return err
				}
			}
			e.buf = append(e.buf, 'e')
		}
	case gDict:
		e.buf = append(e.buf, '}')
		e.put(n)
		items := len(n.kids) / 2
		if items == 0 {
			return nil
		}
		if items == 1 {
			if err := e.saveItems(n.kids, depth); err != nil {
				return err
			}
			e.buf = append(e.buf, 's')
			return nil
		}
		// C Pickler's batch_dict_exact (see wire.EncodePickleMemo).
		for i := 0; ; {
			e.buf = append(e.buf, '(')
			end := min(i+1000, items)
			if err := e.saveItems(n.kids[2*i:2*end], depth); err != nil {
				return err
			}
			e.buf = append(e.buf, 'u')
			if end-i < 1000 {
				break
			}
			i = end
		}
	case gGlobal:
		e.buf = append(e.buf, 'c')
		e.buf = append(e.buf, n.mod...)
		e.buf = append(e.buf, '\n')
		e.buf = append(e.buf, n.nam...)
		e.buf = append(e.buf, '\n')
		e.put(n)
	case gPersID:
		if err := e.save(n.kids[0], depth+1); err != nil {
			return err
		}
		e.buf = append(e.buf, 'Q')
	case gReduce, gNewObj:
		if err := e.save(n.kids[0], depth+1); err != nil {
			return err
		}
		if err := e.save(n.kids[1], depth+1); err != nil {
			return err
		}
		if n.kind == gReduce {
			e.buf = append(e.buf, 'R')
		} else {
			e.buf = append(e.buf, 0x81)
		}
		e.put(n)
		if n.hasState {
			if err := e.save(n.kids[2], depth+1); err != nil {
				return err
			}
			e.buf = append(e.buf, 'b')
		}
	default:
		return notEditable("cannot encode node kind %d", n.kind)
	}
	return nil
}

func (e *genc) saveItems(kv []*gnode, depth int) error {
	for _, k := range kv {
		if err := e.save(k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// bumpZeoup returns the root record with root['zeoup'] set to its int
// value plus one (1 when absent) and that new value. It fails with
// errNotEditable unless the record is a PersistentMapping whose bytes the
// codec reproduces exactly.
func bumpZeoup(rec []byte) ([]byte, int64, error) {
	meta, state, err := decodeRecord(rec)
	if err != nil {
		return nil, 0, err
	}
	again, err := encodeRecord(meta, state)
	if err != nil {
		return nil, 0, err
	}
	if !bytes.Equal(again, rec) {
		return nil, 0, notEditable("the root's pickle does not re-encode to the same bytes")
	}
	if meta.kind != gGlobal || meta.mod != "persistent.mapping" || meta.nam != "PersistentMapping" {
		return nil, 0, notEditable("the root is not a persistent.mapping.PersistentMapping")
	}
	if state.kind != gDict || len(state.kids) != 2 || state.kids[0].kind != gStr || state.kids[0].val != "data" || state.kids[1].kind != gDict {
		return nil, 0, notEditable("the root's state is not {'data': {...}}")
	}
	data := state.kids[1]
	n := int64(1)
	for i := 0; i < len(data.kids); i += 2 {
		if k := data.kids[i]; k.kind == gStr && k.val == "zeoup" {
			v := data.kids[i+1]
			old, ok := v.val.(int64)
			if v.kind != gScalar || !ok || old == math.MaxInt64 {
				return nil, 0, notEditable("root['zeoup'] is not an int")
			}
			n = old + 1
			data.kids[i+1] = &gnode{kind: gScalar, val: n}
			out, err := encodeRecord(meta, state)
			return out, n, err
		}
	}
	data.kids = append(data.kids, &gnode{kind: gStr, val: "zeoup"}, &gnode{kind: gScalar, val: n})
	out, err := encodeRecord(meta, state)
	return out, n, err
}

// zeoupValue reads root['zeoup'] from a root record (for checking what
// was stored); ok is false when there is none.
func zeoupValue(rec []byte) (int64, bool) {
	_, state, err := decodeRecord(rec)
	if err != nil || state.kind != gDict || len(state.kids) != 2 || state.kids[1].kind != gDict {
		return 0, false
	}
	data := state.kids[1]
	for i := 0; i < len(data.kids); i += 2 {
		if k := data.kids[i]; k.kind == gStr && k.val == "zeoup" {
			v, ok := data.kids[i+1].val.(int64)
			return v, ok
		}
	}
	return 0, false
}

// emptyRoot is the record ZODB.DB writes when it creates the root
// ("initial database creation"): PersistentMapping with an empty dict.
var emptyRoot = []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03s.")
