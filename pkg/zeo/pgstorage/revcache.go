package pgstorage

import (
	"sync"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// revCache keeps, for a history-free database, the states this server
// has recently served or committed, by (oid, tid), within a byte
// budget (oldest out first). A ZEO client resolving a conflict asks
// loadSerial for the state its change was based on, which history-free
// tables no longer hold once the object changed; RelStorage resolves
// from its own cache the same way (RelStorage 4.2
// storage/tpc/vote.py resolve_conflicts).
type revCache struct {
	mu     sync.Mutex
	budget int
	used   int
	m      map[revKey][]byte
	order  []revKey
}

type revKey struct {
	oid storage.OID
	tid tid.TID
}

func newRevCache(budget int) *revCache {
	return &revCache{budget: budget, m: map[revKey][]byte{}}
}

func (c *revCache) put(oid storage.OID, t tid.TID, data []byte) {
	if c == nil || data == nil || len(data) > c.budget/8 {
		return
	}
	k := revKey{oid, t}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	c.m[k] = data
	c.order = append(c.order, k)
	c.used += len(data)
	for c.used > c.budget && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.used -= len(c.m[old])
		delete(c.m, old)
	}
}

func (c *revCache) get(oid storage.OID, t tid.TID) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[revKey{oid, t}]
	return d, ok
}
