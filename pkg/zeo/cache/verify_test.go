package cache

import (
	"errors"
	"path/filepath"
	"testing"
)

// A persistent cache survives a restart and is revalidated through
// getInvalidations: unchanged objects are served from disk, changed
// ones are dropped, and a server that cannot tell clears the cache.
func TestVerifyAcrossRestart(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.zec")
	c := mustOpen(t, p, Options{Size: 4096})
	if stale, err := c.Verify(0x100, nil); err != nil || stale || c.LastTid() != 0x100 {
		t.Fatalf("empty cache: %v %v %x", stale, err, c.LastTid())
	}
	c.Store(1, 0x90, 0, []byte("one"))
	c.Store(2, 0x90, 0, []byte("two"))
	c.Close()

	c = mustOpen(t, p, Options{Size: 4096})
	var asked uint64
	stale, err := c.Verify(0x200, func(tid uint64) ([]uint64, bool, error) {
		asked = tid
		return []uint64{2, 3}, true, nil
	})
	if err != nil || stale || asked != 0x100 || c.LastTid() != 0x200 {
		t.Fatalf("verify: %v %v asked %x tid %x", stale, err, asked, c.LastTid())
	}
	if d, _, ok, _ := c.Load(1); !ok || string(d) != "one" {
		t.Errorf("unchanged object lost: %q %v", d, ok)
	}
	if _, _, ok, _ := c.Load(2); ok {
		t.Error("changed object still cached")
	}
	if _, err := c.Verify(0x200, nil); err != nil {
		t.Errorf("same tid: %v", err)
	}
	if _, err := c.Verify(0x150, nil); !errors.Is(err, ErrCacheAhead) {
		t.Errorf("server behind: %v", err)
	}
	stale, err = c.Verify(0x300, func(uint64) ([]uint64, bool, error) { return nil, false, nil })
	if err != nil || !stale || c.Len() != 0 || c.LastTid() != 0x300 {
		t.Errorf("too old: %v %v len %d tid %x", stale, err, c.Len(), c.LastTid())
	}
}
