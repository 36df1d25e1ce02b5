package zconfig

import (
	"fmt"
	"syscall"
	"time"
)

// Has reports whether the key was given in the file or by an override
// (not merely defaulted). zdctl needs the difference: it passes an option
// on to zdrun only when it differs from the file's value.
func (n *Node) Has(key string) bool {
	e, ok := n.entries[key]
	return ok && len(e.vals) > 0 && !e.vals[0].Default
}

// Value returns the first value of a key, given or defaulted.
func (n *Node) Value(key string) (Value, bool) {
	if n == nil {
		return Value{}, false
	}
	e, ok := n.entries[key]
	if !ok || len(e.vals) == 0 {
		return Value{}, false
	}
	return e.vals[0], true
}

// Values returns every value of a (multi-valued) key.
func (n *Node) Values(key string) []Value {
	if n == nil {
		return nil
	}
	if e, ok := n.entries[key]; ok {
		return append([]Value(nil), e.vals...)
	}
	return nil
}

// typed returns the typed value of key, or the zero T when the key has
// no value. A schema/accessor mismatch is a programming error in zdkit,
// not bad input, so it panics with the key's name.
func typed[T any](n *Node, key string) T {
	var zero T
	v, ok := n.Value(key)
	if !ok {
		return zero
	}
	t, ok := v.Typed.(T)
	if !ok {
		panic(fmt.Sprintf("zconfig: key %q of <%s> holds %T, not %T", key, n.Type, v.Typed, zero))
	}
	return t
}

// String returns a string-typed key ("" when unset).
func (n *Node) String(key string) string { return typed[string](n, key) }

// Bool returns a boolean key (false when unset).
func (n *Node) Bool(key string) bool { return typed[bool](n, key) }

// Int returns an integer, octal or port key (0 when unset).
func (n *Node) Int(key string) int { return typed[int](n, key) }

// Float returns a float key.
func (n *Node) Float(key string) float64 { return typed[float64](n, key) }

// Bytes returns a byte-size key in bytes.
func (n *Node) Bytes(key string) int64 { return typed[int64](n, key) }

// Duration returns a time-interval key.
func (n *Node) Duration(key string) time.Duration { return typed[time.Duration](n, key) }

// Strings returns a string-list key's words.
func (n *Node) Strings(key string) []string { return typed[[]string](n, key) }

// Ints returns a list-of-ints key.
func (n *Node) Ints(key string) []int { return typed[[]int](n, key) }

// Address returns a socket-address key.
func (n *Node) Address(key string) Address { return typed[Address](n, key) }

// Signal returns a signal key.
func (n *Node) Signal(key string) syscall.Signal { return typed[syscall.Signal](n, key) }

// Pairs returns the arbitrary key/value lines of a section whose type
// accepts any key (<environment>), in file order with case kept.
func (n *Node) Pairs() []KeyValue {
	if n == nil {
		return nil
	}
	return append([]KeyValue(nil), n.pairs...)
}

// Children returns the child sections in file order.
func (n *Node) Children() []*Node {
	if n == nil {
		return nil
	}
	return append([]*Node(nil), n.children...)
}

// Section returns the first child section of the given type, or nil.
func (n *Node) Section(typ string) *Node {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// Sections returns every child section whose type is one of types, in
// file order (all children when no type is given).
func (n *Node) Sections(types ...string) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, c := range n.children {
		if len(types) == 0 {
			out = append(out, c)
			continue
		}
		for _, t := range types {
			if c.Type == t {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// SectionType returns the schema type the node was checked against.
func (n *Node) SectionType() *SectionType { return n.st }
