package cache

import (
	"errors"
	"fmt"
)

// ErrCacheAhead is returned by Verify when the cache has seen a later
// transaction than the server's last one (ZEO logs it as critical and
// refuses the connection: the server was probably restored from an older
// backup).
var ErrCacheAhead = errors.New("cache: client has seen newer transactions than server")

// Invalidations is the server's getInvalidations(tid): the oids changed
// by transactions after tid, and ok false when the server no longer
// keeps that far back.
type Invalidations func(tid uint64) (oids []uint64, ok bool, err error)

// Verify brings the cache up to date with a server whose last
// transaction is serverTid, as ZEO 5/6 clients do on connecting (ZEO 6.0
// ClientStorage.verify_cache): an empty cache just takes serverTid; a cache at serverTid is kept;
// an older cache drops the current revisions of the oids getInvalidations
// reports (tid 0 invalidations, traced as 0x1e or 0x10), or is cleared when
// the server cannot tell (stale true: ZEO then emits StaleCache).  The
// cache's last tid becomes serverTid.
func (c *Cache) Verify(serverTid uint64, getInvalidations Invalidations) (stale bool, err error) {
	c.mu.Lock()
	empty, cacheTid := c.n == 0, c.tid
	c.mu.Unlock()
	switch {
	case empty:
	case cacheTid > serverTid:
		return false, fmt.Errorf("%w (cache %016x, server %016x)", ErrCacheAhead, cacheTid, serverTid)
	case cacheTid == serverTid:
		return false, nil
	default:
		oids, ok, err := getInvalidations(cacheTid)
		if err != nil {
			return false, fmt.Errorf("cache: verifying: %w", err)
		}
		if ok {
			for _, oid := range oids {
				if err := c.Invalidate(oid, 0); err != nil {
					return false, err
				}
			}
		} else {
			if err := c.Clear(); err != nil {
				return false, err
			}
			stale = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return stale, ErrClosed
	}
	// setLastTid without the "going backwards" check: an empty cache
	// takes whatever the server has.
	if serverTid != 0 && serverTid != c.tid {
		var t [8]byte
		for i := range t {
			t[i] = byte(serverTid >> (56 - 8*i))
		}
		if err := c.writeAt(t[:], 4); err != nil {
			return stale, err
		}
		c.tid = serverTid
	}
	return stale, nil
}
