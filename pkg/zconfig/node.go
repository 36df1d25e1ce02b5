package zconfig

import (
	"strings"
	"syscall"
	"time"
)

// Has reports whether the key was given in the file or by an override
// (not merely defaulted). zdctl needs the difference: it passes an option
// on to zdrun only when it differs from the file's value.
func (n *Node) Has(key string) bool {
	if n == nil {
		return false
	}
	e, ok := n.entries[strings.ToLower(key)]
	return ok && len(e.vals) > 0 && !e.vals[0].Default
}

// Value returns the first value of a key, given or defaulted.
func (n *Node) Value(key string) (Value, bool) {
	if n == nil {
		return Value{}, false
	}
	e, ok := n.entries[strings.ToLower(key)]
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
	if e, ok := n.entries[strings.ToLower(key)]; ok {
		return append([]Value(nil), e.vals...)
	}
	return nil
}

// The accessors below never panic. Each returns the zero value when the
// key has no value (absent and no default) and converts between the
// representations that mean the same thing: Duration of an integer key is
// that many seconds (zdaemon's stop-timeout, backoff-limit), Int of a
// time-interval is its seconds, String of any key is its text as written
// (after substitution). A request that makes no sense for the key's
// datatype gives the zero value.

// String returns a key's value as text: the converted string for string
// datatypes (with "~" expanded for the directory types), otherwise the
// text as written.
func (n *Node) String(key string) string {
	v, ok := n.Value(key)
	if !ok {
		return ""
	}
	if s, ok := v.Typed.(string); ok {
		return s
	}
	return v.Raw
}

// Bool returns a boolean key (false when unset).
func (n *Node) Bool(key string) bool {
	v, _ := n.Value(key)
	b, _ := v.Typed.(bool)
	return b
}

// Int returns an integer, octal, port or logging-level key (0 when
// unset); a time-interval gives whole seconds, a byte-size its bytes.
func (n *Node) Int(key string) int {
	v, _ := n.Value(key)
	switch t := v.Typed.(type) {
	case int:
		return t
	case int64:
		return int(t)
	case time.Duration:
		return int(t / time.Second)
	case float64:
		return int(t)
	case syscall.Signal:
		return int(t)
	}
	return 0
}

// Float returns a float key; integer keys convert.
func (n *Node) Float(key string) float64 {
	v, _ := n.Value(key)
	switch t := v.Typed.(type) {
	case float64:
		return t
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case time.Duration:
		return t.Seconds()
	}
	return 0
}

// Bytes returns a byte-size key in bytes; an integer key converts.
func (n *Node) Bytes(key string) int64 {
	v, _ := n.Value(key)
	switch t := v.Typed.(type) {
	case int64:
		return t
	case int:
		return int64(t)
	}
	return 0
}

// Duration returns a time-interval key, or an integer or float key
// counted in seconds (zdaemon's start-timeout and stop-timeout, ZEO's
// transaction-timeout and invalidation-age).
func (n *Node) Duration(key string) time.Duration {
	v, _ := n.Value(key)
	switch t := v.Typed.(type) {
	case time.Duration:
		return t
	case int:
		return time.Duration(t) * time.Second
	case int64:
		return time.Duration(t) * time.Second
	case float64:
		return time.Duration(t * float64(time.Second))
	}
	return 0
}

// Strings returns a word-list key's words (program, start-test-program),
// or every value of a multi-valued string key, or a one-element list for
// a single string key.
func (n *Node) Strings(key string) []string {
	vals := n.Values(key)
	if len(vals) == 0 {
		return nil
	}
	if w, ok := vals[0].Typed.([]string); ok && len(vals) == 1 {
		return append([]string(nil), w...)
	}
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if w, ok := v.Typed.([]string); ok {
			out = append(out, w...)
		} else if s, ok := v.Typed.(string); ok {
			out = append(out, s)
		} else {
			out = append(out, v.Raw)
		}
	}
	return out
}

// Ints returns a list-of-ints key (exit-codes); nil when unset, an empty
// non-nil slice when set to the empty string.
func (n *Node) Ints(key string) []int {
	v, _ := n.Value(key)
	if l, ok := v.Typed.([]int); ok {
		return append([]int{}, l...)
	}
	return nil
}

// Address returns a socket-address key (the zero Address when unset).
func (n *Node) Address(key string) Address {
	v, _ := n.Value(key)
	a, _ := v.Typed.(Address)
	return a
}

// Signal returns a signal key.
func (n *Node) Signal(key string) syscall.Signal {
	v, _ := n.Value(key)
	switch t := v.Typed.(type) {
	case syscall.Signal:
		return t
	case int:
		return syscall.Signal(t)
	}
	return 0
}

// Raw returns a key's text as written (after substitution) and whether
// the key has a value, given or defaulted.
func (n *Node) Raw(key string) (string, bool) {
	v, ok := n.Value(key)
	return v.Raw, ok
}

// Env returns the key/value lines of a section that accepts any key
// (<environment>) as a map with the names' case kept; a name given twice
// keeps its last value.
func (n *Node) Env() map[string]string {
	if n == nil {
		return nil
	}
	m := make(map[string]string, len(n.pairs))
	for _, kv := range n.pairs {
		m[kv.Key] = kv.Value
	}
	return m
}

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
	typ = strings.ToLower(typ)
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
			if c.Type == strings.ToLower(t) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// SectionType returns the schema type the node was checked against.
func (n *Node) SectionType() *SectionType {
	if n == nil {
		return nil
	}
	return n.st
}
