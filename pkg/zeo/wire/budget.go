package wire

import (
	"errors"
	"fmt"
)

// ErrValueBudget: a frame would build more Go values than its size
// allows. Each decoded value is boxed (an interface slot, a slice or
// string header, a Dict item), so a frame of one-byte values, such as a
// pickle of empty lists (`]`) or a msgpack array of empty arrays
// (0x90), costs 40-100 times its length: 2 MiB took 200 MiB in runzeo,
// and one 64 MiB frame (the default cap) about 6 GiB
// (docs/reliability.md finding 4). Python's unpickler has the same
// amplification; ZEO relies on trusted clients, zdkit does not.
var ErrValueBudget = errors.New("zeo: message builds too many values for its size")

// Budget of one frame's decoded values, in estimated bytes:
// budgetPerByte per byte of the frame plus budgetBase. Real ZEO traffic
// stays far below it: a store is one big bytes value, an oid list costs
// about 4 bytes per frame byte, an undoLog reply (dicts of short values
// with memoized keys) about 6; the fixtures recorded from Python ZEO all
// fit (TestValueBudgetFixtures). Small frames get budgetBase whatever
// their content.
const (
	budgetPerByte = 8
	budgetBase    = 1 << 20
)

// valueBudget counts the estimated bytes of the values one decode builds.
type valueBudget struct {
	left  int
	limit int
}

func newValueBudget(frameLen int) valueBudget {
	n := budgetPerByte*frameLen + budgetBase
	return valueBudget{left: n, limit: n}
}

// valueCost estimates what one value costs once boxed in an interface
// slot (16 bytes) plus its header; payload bytes are not counted, they
// are bounded by the frame.
func valueCost(v any) int {
	switch v.(type) {
	case nil, bool, markT:
		return 16
	case string, []byte:
		return 32
	case Tuple, List:
		return 40
	case *Dict:
		return 64
	}
	return 24
}

// spend charges n bytes; false once the budget is exhausted.
func (b *valueBudget) spend(n int) bool {
	b.left -= n
	return b.left >= 0
}

func (b *valueBudget) err(base error, frameLen int) error {
	return fmt.Errorf("%w: %w: a %d-byte frame may build %d bytes of values (%d per byte + %d)",
		base, ErrValueBudget, frameLen, b.limit, budgetPerByte, budgetBase)
}
