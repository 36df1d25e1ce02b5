package storage

import (
	"fmt"

	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// PickleExtension encodes a transaction extension as ZODB storages keep
// it (FileStorage's transaction header, RelStorage's transaction.extension
// column): a pickle of the dict, memoized like zodbpickle's dumps, or
// nothing when it is empty (ZODB 6 BaseStorage's rule).
func PickleExtension(items []ExtItem) ([]byte, error) {
	if len(items) == 0 {
		return nil, nil
	}
	d := &wire.Dict{}
	for _, it := range items {
		d.Set(it.Key, it.Value)
	}
	b, err := wire.EncodePickleMemo(d)
	if err != nil {
		return nil, &StorageError{Msg: fmt.Sprintf("transaction extension cannot be stored: %v", err)}
	}
	return b, nil
}

// ExtensionItems decodes a stored extension pickle into items (best
// effort: a damaged one yields no items rather than failing the read).
func ExtensionItems(b []byte) []ExtItem {
	if len(b) == 0 {
		return nil
	}
	v, err := wire.DecodePickle(b)
	if err != nil {
		return nil
	}
	d, ok := v.(*wire.Dict)
	if !ok {
		return nil
	}
	var out []ExtItem
	for _, it := range d.Items {
		if k, ok := wire.AsString(it.Key); ok {
			out = append(out, ExtItem{Key: k, Value: it.Value})
		}
	}
	return out
}
