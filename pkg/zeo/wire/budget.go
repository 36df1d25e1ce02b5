package wire

import (
	"errors"
	"fmt"
)

// ErrValueBudget: a frame would make the decoder allocate more than its
// size allows. Each decoded value is boxed (an interface slot, a slice
// or string header, a Dict item), so a frame of one-byte values, such
// as a pickle of Nones (`N`) or empty lists (`]`) under one MARK, or a
// msgpack array of empty arrays (0x90), costs 40-100 times its length
// when nothing bounds it: one 64 MiB frame took runzeo to 2.2 GiB.
// Python's unpickler has the same amplification; ZEO relies on trusted
// clients, zdkit does not.
var ErrValueBudget = errors.New("zeo: message builds too many values for its size")

// A frame's decode budget is perByte bytes of allocations per frame
// byte plus budgetBase. Every allocation the decoder makes is charged
// before it is made, garbage included (the parse stack's old arrays
// when it grows, the copy a MARK pops), so the budget bounds the heap
// a decode can grow, whatever the garbage collector does meanwhile.
//
// DefaultBudgetPerByte suits a client decoding its server's replies:
// an oid list costs about 10 bytes per frame byte, a Python-pickled
// undoLog reply (dicts of short values with memoized keys) about 12;
// the fixtures recorded from Python ZEO all fit. ServerBudgetPerByte
// is what a server needs: the messages a ZEO client sends are a few
// small values, or one large bytes value (a store) that costs its
// length once; small frames get budgetBase whatever their content.
const (
	DefaultBudgetPerByte = 16
	ServerBudgetPerByte  = 2
	budgetBase           = 1 << 20
)

// DecodeCost is the most a frame of frameLen bytes may make the decoder
// allocate with perByte (<= 0: DefaultBudgetPerByte).
func DecodeCost(frameLen, perByte int) int {
	if perByte <= 0 {
		perByte = DefaultBudgetPerByte
	}
	return perByte*frameLen + budgetBase
}

// valueBudget counts the bytes one decode allocates.
type valueBudget struct {
	left    int
	limit   int
	perByte int
}

func newValueBudget(frameLen, perByte int) valueBudget {
	n := DecodeCost(frameLen, perByte)
	if perByte <= 0 {
		perByte = DefaultBudgetPerByte
	}
	return valueBudget{left: n, limit: n, perByte: perByte}
}

// valueCost is what making one value allocates, its payload (charged
// separately) and the slot holding it (charged by its container or the
// parse stack) aside: Go boxes an int64 or float in 8 bytes, a string
// or slice header in 16-24, and nil, bools and small ints not at all.
func valueCost(v any) int {
	switch x := v.(type) {
	case nil, bool, markT:
		return 0
	case int64:
		if x >= 0 && x < 256 {
			return 0
		}
		return 8
	case float64:
		return 8
	case string:
		return 16
	case []byte, Tuple, List:
		return 24
	case *Dict:
		return 48
	case *Object:
		return 96
	case Global:
		return 32 + len(x.Module) + len(x.Name)
	}
	return 64
}

// dictItemCost is what adding key to d allocates: the item, and past
// smallDict the index map's entry and two hash keys (the check, then
// Set); when Items is about to double (Dict.appendItem) the new array
// and the index for it are charged at once, before they exist.
func dictItemCost(d *Dict, key any) int {
	l := len(d.Items)
	if l < smallDict {
		return 64
	}
	n := 2 * 32
	switch x := key.(type) {
	case string:
		n += 2 * len(x)
	case []byte:
		n += 2 * len(x)
	}
	if l&(l-1) == 0 { // a power of two: Items doubles now
		n += 2 * l * (32 + 64)
	}
	return n
}

// spend charges n bytes; false once the budget is exhausted, in which
// case the caller must not make the allocation.
func (b *valueBudget) spend(n int) bool {
	b.left -= n
	return b.left >= 0
}

func (b *valueBudget) err(base error, frameLen int) error {
	return fmt.Errorf("%w: %w: a %d-byte frame may make the decoder allocate %d bytes of values (%d per byte + %d)",
		base, ErrValueBudget, frameLen, b.limit, b.perByte, budgetBase)
}
