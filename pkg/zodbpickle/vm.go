package zodbpickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrPickle is wrapped by every decoding error.
var ErrPickle = errors.New("zodbpickle: bad pickle")

// Kinds of persistent references (serialize.py's persistent-id forms).
const (
	Strong  = iota // (oid, class) tuple or bare oid: followed by pack GC
	Weak           // ['w', (oid,)] / legacy [oid]
	CrossDB        // ['m', (db, oid, class)] / ['n', (db, oid)]
	Unknown        // anything else
)

// Reference is one persistent id found in a record.
type Reference struct {
	Oid      uint64
	Kind     int
	Database string // for cross-database references
	// Class is "module.name" when a strong reference carries its class
	// as a (module, name) tuple; "" for the usual class global, which
	// noload (and so ZODB's get_refs) reads as None.
	Class string
}

type (
	mark   struct{}
	opaque struct{}
	pbytes []byte // bytes, or a py2 str (an oid in FS21 files)
	pstr   string // unicode text
	tuple  []any
	list   struct{ items []any }
	global struct{ module, name string }
)

type vm struct {
	data  []byte
	pos   int
	stack []any
	memo  map[int]any
	refs  []Reference
}

func (m *vm) errf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrPickle, m.pos, fmt.Sprintf(format, args...))
}

func (m *vm) take(n int) ([]byte, error) {
	if n < 0 || n > len(m.data)-m.pos {
		return nil, m.errf("truncated (need %d bytes)", n)
	}
	b := m.data[m.pos : m.pos+n]
	m.pos += n
	return b, nil
}

func (m *vm) line() (string, error) {
	i := strings.IndexByte(string(m.data[m.pos:]), '\n')
	if i < 0 {
		return "", m.errf("unterminated line")
	}
	s := string(m.data[m.pos : m.pos+i])
	m.pos += i + 1
	return s, nil
}

func (m *vm) push(v any) { m.stack = append(m.stack, v) }

func (m *vm) pop() (any, error) {
	if len(m.stack) == 0 {
		return nil, m.errf("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	if _, ok := v.(mark); ok {
		return nil, m.errf("unexpected mark")
	}
	return v, nil
}

func (m *vm) top() (any, error) {
	if len(m.stack) == 0 {
		return nil, m.errf("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark pops everything down to the topmost mark.
func (m *vm) popMark() ([]any, error) {
	for k := len(m.stack) - 1; k >= 0; k-- {
		if _, ok := m.stack[k].(mark); ok {
			items := append([]any{}, m.stack[k+1:]...)
			m.stack = m.stack[:k]
			return items, nil
		}
	}
	return nil, m.errf("no mark on the stack")
}

func (m *vm) lenArg(size int) (int, error) {
	b, err := m.take(size)
	if err != nil {
		return 0, err
	}
	var n uint64
	switch size {
	case 1:
		n = uint64(b[0])
	case 2:
		n = uint64(binary.LittleEndian.Uint16(b))
	case 4:
		n = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		n = binary.LittleEndian.Uint64(b)
	}
	if n > uint64(len(m.data)) {
		return 0, m.errf("length %d exceeds the data", n)
	}
	return int(n), nil
}

// persistentID records one pid (noload's persistent_load hook).
func (m *vm) persistentID(pid any) {
	oidOf := func(v any) (uint64, bool) {
		if b, ok := v.(pbytes); ok && len(b) == 8 {
			return binary.BigEndian.Uint64(b), true
		}
		return 0, false
	}
	switch p := pid.(type) {
	case pbytes:
		if o, ok := oidOf(p); ok {
			m.refs = append(m.refs, Reference{Oid: o, Kind: Strong})
		}
	case tuple:
		if len(p) > 0 {
			if o, ok := oidOf(p[0]); ok {
				r := Reference{Oid: o, Kind: Strong}
				if len(p) == 2 {
					if k, ok := p[1].(tuple); ok && len(k) == 2 {
						r.Class = textOf(k[0]) + "." + textOf(k[1])
					}
				}
				m.refs = append(m.refs, r)
			}
		}
	case *list:
		it := p.items
		if len(it) == 1 {
			if o, ok := oidOf(it[0]); ok {
				m.refs = append(m.refs, Reference{Oid: o, Kind: Weak})
			}
			return
		}
		if len(it) != 2 {
			return
		}
		kind, _ := it[0].(pstr)
		if kb, ok := it[0].(pbytes); ok {
			kind = pstr(kb)
		}
		args, _ := it[1].(tuple)
		switch kind {
		case "w":
			if len(args) >= 1 {
				if o, ok := oidOf(args[0]); ok {
					r := Reference{Oid: o, Kind: Weak}
					if len(args) > 1 {
						r.Database = textOf(args[1])
					}
					m.refs = append(m.refs, r)
				}
			}
		case "m", "n":
			if len(args) >= 2 {
				if o, ok := oidOf(args[1]); ok {
					m.refs = append(m.refs, Reference{Oid: o, Kind: CrossDB, Database: textOf(args[0])})
				}
			}
		}
	}
}

func textOf(v any) string {
	switch s := v.(type) {
	case pstr:
		return string(s)
	case pbytes:
		return string(s)
	}
	return ""
}

// run decodes one pickle up to STOP and returns its value.
func (m *vm) run() (any, error) {
	m.stack = m.stack[:0]
	for {
		if m.pos >= len(m.data) {
			return nil, m.errf("no STOP opcode")
		}
		op := m.data[m.pos]
		m.pos++
		switch op {
		case '.': // STOP
			return m.pop()
		case 0x80: // PROTO
			if _, err := m.take(1); err != nil {
				return nil, err
			}
		case 0x95: // FRAME
			if _, err := m.take(8); err != nil {
				return nil, err
			}
		case '(':
			m.push(mark{})
		case '0': // POP
			if len(m.stack) > 0 {
				if _, ok := m.stack[len(m.stack)-1].(mark); ok {
					m.stack = m.stack[:len(m.stack)-1]
					break
				}
			}
			if _, err := m.pop(); err != nil {
				return nil, err
			}
		case '1': // POP_MARK
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
		case '2': // DUP
			v, err := m.top()
			if err != nil {
				return nil, err
			}
			m.push(v)
		case 'N':
			m.push(nil)
		case 0x88, 0x89: // NEWTRUE, NEWFALSE
			m.push(op == 0x88)
		case 'I', 'L', 'F': // INT, LONG, FLOAT (text)
			if _, err := m.line(); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'J':
			if _, err := m.take(4); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'K':
			if _, err := m.take(1); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'M':
			if _, err := m.take(2); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'G': // BINFLOAT
			if _, err := m.take(8); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 0x8a, 0x8b: // LONG1, LONG4
			size := 1
			if op == 0x8b {
				size = 4
			}
			n, err := m.lenArg(size)
			if err != nil {
				return nil, err
			}
			if _, err := m.take(n); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'S': // STRING: a quoted py2 str
			s, err := m.line()
			if err != nil {
				return nil, err
			}
			m.push(pbytes(unquote(s)))
		case 'U', 'T', 'C', 'B', 0x8e, 0x96: // py2 str and bytes forms
			size := map[byte]int{'U': 1, 'T': 4, 'C': 1, 'B': 4, 0x8e: 8, 0x96: 8}[op]
			n, err := m.lenArg(size)
			if err != nil {
				return nil, err
			}
			b, err := m.take(n)
			if err != nil {
				return nil, err
			}
			m.push(pbytes(b))
		case 'V': // UNICODE (raw-unicode-escape line)
			s, err := m.line()
			if err != nil {
				return nil, err
			}
			m.push(pstr(s))
		case 'X', 0x8c, 0x8d: // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
			size := map[byte]int{'X': 4, 0x8c: 1, 0x8d: 8}[op]
			n, err := m.lenArg(size)
			if err != nil {
				return nil, err
			}
			b, err := m.take(n)
			if err != nil {
				return nil, err
			}
			m.push(pstr(b))
		case ')':
			m.push(tuple{})
		case 't':
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			m.push(tuple(items))
		case 0x85, 0x86, 0x87: // TUPLE1..3
			n := int(op-0x85) + 1
			t := make(tuple, n)
			for i := n - 1; i >= 0; i-- {
				v, err := m.pop()
				if err != nil {
					return nil, err
				}
				t[i] = v
			}
			m.push(t)
		case ']':
			m.push(&list{})
		case 'l':
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			m.push(&list{items: items})
		case 'a': // APPEND
			v, err := m.pop()
			if err != nil {
				return nil, err
			}
			l, err := m.top()
			if err != nil {
				return nil, err
			}
			if lp, ok := l.(*list); ok {
				lp.items = append(lp.items, v)
			}
		case 'e': // APPENDS
			items, err := m.popMark()
			if err != nil {
				return nil, err
			}
			l, err := m.top()
			if err != nil {
				return nil, err
			}
			if lp, ok := l.(*list); ok {
				lp.items = append(lp.items, items...)
			}
		case '}', 0x8f: // EMPTY_DICT, EMPTY_SET
			m.push(opaque{})
		case 'd', 0x91: // DICT, FROZENSET
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 's': // SETITEM
			for range 2 {
				if _, err := m.pop(); err != nil {
					return nil, err
				}
			}
			if _, err := m.top(); err != nil {
				return nil, err
			}
		case 'u', 0x90: // SETITEMS, ADDITEMS
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
			if _, err := m.top(); err != nil {
				return nil, err
			}
		case 'c': // GLOBAL
			mod, err := m.line()
			if err != nil {
				return nil, err
			}
			name, err := m.line()
			if err != nil {
				return nil, err
			}
			m.push(global{mod, name})
		case 0x93: // STACK_GLOBAL
			name, err := m.pop()
			if err != nil {
				return nil, err
			}
			mod, err := m.pop()
			if err != nil {
				return nil, err
			}
			m.push(global{textOf(mod), textOf(name)})
		case 'R', 0x81: // REDUCE, NEWOBJ
			for range 2 {
				if _, err := m.pop(); err != nil {
					return nil, err
				}
			}
			m.push(opaque{})
		case 0x92: // NEWOBJ_EX
			for range 3 {
				if _, err := m.pop(); err != nil {
					return nil, err
				}
			}
			m.push(opaque{})
		case 'b': // BUILD
			if _, err := m.pop(); err != nil {
				return nil, err
			}
			if _, err := m.top(); err != nil {
				return nil, err
			}
		case 'i': // INST
			if _, err := m.line(); err != nil {
				return nil, err
			}
			if _, err := m.line(); err != nil {
				return nil, err
			}
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'o': // OBJ
			if _, err := m.popMark(); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
			size := map[byte]int{0x82: 1, 0x83: 2, 0x84: 4}[op]
			if _, err := m.take(size); err != nil {
				return nil, err
			}
			m.push(opaque{})
		case 'P': // PERSID
			s, err := m.line()
			if err != nil {
				return nil, err
			}
			m.persistentID(pbytes(s))
			m.push(opaque{})
		case 'Q': // BINPERSID
			v, err := m.pop()
			if err != nil {
				return nil, err
			}
			m.persistentID(v)
			m.push(opaque{})
		case 'p', 'q', 'r', 0x94: // PUT, BINPUT, LONG_BINPUT, MEMOIZE
			var k int
			switch op {
			case 'p':
				s, err := m.line()
				if err != nil {
					return nil, err
				}
				if _, err := fmt.Sscan(s, &k); err != nil {
					return nil, m.errf("bad PUT key %q", s)
				}
			case 'q':
				b, err := m.take(1)
				if err != nil {
					return nil, err
				}
				k = int(b[0])
			case 'r':
				b, err := m.take(4)
				if err != nil {
					return nil, err
				}
				k = int(binary.LittleEndian.Uint32(b))
			default:
				k = len(m.memo)
			}
			v, err := m.top()
			if err != nil {
				return nil, err
			}
			if _, ok := v.(mark); ok {
				return nil, m.errf("memo put of a mark")
			}
			m.memo[k] = v
		case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
			var k int
			switch op {
			case 'g':
				s, err := m.line()
				if err != nil {
					return nil, err
				}
				if _, err := fmt.Sscan(s, &k); err != nil {
					return nil, m.errf("bad GET key %q", s)
				}
			case 'h':
				b, err := m.take(1)
				if err != nil {
					return nil, err
				}
				k = int(b[0])
			default:
				b, err := m.take(4)
				if err != nil {
					return nil, err
				}
				k = int(binary.LittleEndian.Uint32(b))
			}
			v, ok := m.memo[k]
			if !ok {
				return nil, m.errf("memo key %d not defined", k)
			}
			m.push(v)
		case 0x97, 0x98: // NEXT_BUFFER, READONLY_BUFFER
			m.push(opaque{})
		default:
			return nil, m.errf("unknown opcode 0x%02x", op)
		}
	}
}

// unquote strips the quotes of a protocol-0 STRING argument; escapes are
// kept as they are (an oid is never written this way by ZODB).
func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func newVM(data []byte) *vm { return &vm{data: data, memo: map[int]any{}} }

// AllReferences returns every persistent id in the record's two pickles,
// in order, with its kind.
func AllReferences(record []byte) ([]Reference, error) {
	m := newVM(record)
	for i := 0; i < 2; i++ {
		if _, err := m.run(); err != nil {
			return m.refs, err
		}
	}
	return m.refs, nil
}

// References returns the oids pack GC follows (referencesf): strong
// references only, in order, duplicates kept.
func References(record []byte) ([]uint64, error) {
	refs, err := AllReferences(record)
	var out []uint64
	for _, r := range refs {
		if r.Kind == Strong {
			out = append(out, r.Oid)
		}
	}
	return out, err
}

// ClassName is ZODB.utils.get_pickle_metadata: the module and class of
// the record's first pickle ("", "" when it cannot be read).
func ClassName(record []byte) (module, name string) {
	d := record
	if len(d) >= 2 && d[0] == 0x80 {
		d = d[2:]
	}
	prefix := 0
	if strings.HasPrefix(string(d[:min(2, len(d))]), "(c") {
		prefix = 2
	} else if len(d) > 0 && d[0] == 'c' {
		prefix = 1
	}
	if prefix > 0 {
		parts := strings.SplitN(string(d[prefix:]), "\n", 3)
		if len(parts) < 3 {
			return "", ""
		}
		return parts[0], parts[1]
	}
	m := newVM(d)
	v, err := m.run()
	if err != nil {
		return "", ""
	}
	if t, ok := v.(tuple); ok && len(t) >= 1 {
		if g, ok := t[0].(global); ok {
			return g.module, g.name
		}
		if inner, ok := t[0].(tuple); ok && len(inner) == 2 {
			return textOf(inner[0]), textOf(inner[1])
		}
		if len(t) == 2 {
			return textOf(t[0]), textOf(t[1])
		}
	}
	if g, ok := v.(global); ok {
		// Not a format get_pickle_metadata knows; Python prints repr.
		return "<class '" + g.module + "." + g.name + "'>", ""
	}
	return "", ""
}
