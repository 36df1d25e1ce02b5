package cachesimul

import "slices"

// Overhead is the bytes a ZEO cache record needs besides its data
// (ZEO.cache.allocated_record_overhead).
const Overhead = 43

// headerSize is the .zec header (ZEC_HEADER_SIZE).
const headerSize = 12

// counters are the per-run figures of a Python Simulation.  The cache
// keeps running totals; a run remembers the totals at its last restart.
type counters struct {
	loads, hits, invals, writes, evicts int64
}

func (c counters) sub(b counters) counters {
	return counters{c.loads - b.loads, c.hits - b.hits, c.invals - b.invals, c.writes - b.writes, c.evicts - b.evicts}
}

// entry is a cached object revision (CircularCacheEntry).
type entry struct {
	oid, start, end uint64
	offset, size    int64
	gen             uint32
	live            bool
}

// block is a slot of the simulated file: free, or holding entry ent of
// generation gen (a removed entry bumps its generation, which frees its
// block lazily, without finding it).
type block struct {
	size int64
	ent  int32
	gen  uint32
}

// ring holds the blocks in file order starting at the ring pointer: the
// blocks from the pointer to the end of the file, then those from the
// start of the file up to the pointer.  Eviction pops at the front, a new
// record goes to the back (just behind the pointer) and the left-over
// free space to the front.
type ring struct {
	buf     []block
	head, n int
	mask    int
}

func newRing() ring { return ring{buf: make([]block, 16), mask: 15} }

func (r *ring) grow() {
	nb := make([]block, len(r.buf)*2)
	for i := 0; i < r.n; i++ {
		nb[i] = r.buf[(r.head+i)&r.mask]
	}
	r.buf, r.head, r.mask = nb, 0, len(nb)-1
}

func (r *ring) popFront() block {
	b := r.buf[r.head]
	r.head = (r.head + 1) & r.mask
	r.n--
	return b
}

func (r *ring) pushFront(b block) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.head = (r.head - 1) & r.mask
	r.buf[r.head] = b
	r.n++
}

func (r *ring) pushBack(b block) {
	if r.n == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.n)&r.mask] = b
	r.n++
}

// oidState is what the simulation knows about one oid.
type oidState struct {
	cur     int32  // current entry + 1; 0: none
	nc      int32  // index of its non-current list in cache.nc; 0: none
	evSize  int64  // data size + 1 of the evicted current revision; 0: none
	evStart uint64 // start tid of the evicted current revision
}

// denseOids bounds the oids kept in a plain slice.  ZODB storages number
// oids from 0 up, so real traces index it densely; others go to a map.
const denseOids = 1 << 22

type oidTable struct {
	dense  []oidState
	sparse map[uint64]int32
	extra  []oidState
}

func newOidTable() oidTable { return oidTable{sparse: map[uint64]int32{}} }

// get returns the state of oid, creating it.  The pointer stays valid
// until a new oid is added (evictions only touch existing oids).
func (t *oidTable) get(oid uint64) *oidState {
	if oid < denseOids {
		if oid >= uint64(len(t.dense)) {
			n := max(2*len(t.dense), int(oid)+1, 1024)
			t.dense = append(t.dense, make([]oidState, min(n, denseOids)-len(t.dense))...)
		}
		return &t.dense[oid]
	}
	i, ok := t.sparse[oid]
	if !ok {
		i = int32(len(t.extra))
		t.extra = append(t.extra, oidState{})
		t.sparse[oid] = i
	}
	return &t.extra[i]
}

// cache is the state of CircularCacheSimulation, shared by the whole-run
// and the per-interval simulators.
type cache struct {
	limit     int64
	rearrange float64
	offset    int64
	ring      ring
	used      int64

	ents  []entry
	freeE []int32

	// Per-oid state: which entry is current, the non-current
	// revisions, and what eviction pushed out (Python's current,
	// noncurrent and evicted dicts, one lookup instead of three).
	oids   oidTable
	nc     [][]int32 // non-current lists, referenced by oidState.nc
	ncFree []int32
	tot    counters
}

func newCache(limit int64, rearrange float64) *cache {
	c := &cache{
		limit:     limit,
		rearrange: rearrange,
		offset:    headerSize,
		ring:      newRing(),
		oids:      newOidTable(),
		nc:        [][]int32{nil},
	}
	c.ring.pushBack(block{size: limit - headerSize, ent: -1})
	return c
}

// fits reports whether a record of data length size can be stored at all:
// Python's makeroom asserts when it runs off the end after wrapping.
func (c *cache) fits(size int64) bool {
	return headerSize+size+Overhead+1 <= c.limit
}

func (c *cache) live(b block) bool {
	return b.ent >= 0 && c.ents[b.ent].gen == b.gen && c.ents[b.ent].live
}

func (c *cache) newEntry(e entry) int32 {
	var i int32
	if n := len(c.freeE); n > 0 {
		i = c.freeE[n-1]
		c.freeE = c.freeE[:n-1]
		e.gen = c.ents[i].gen
	} else {
		i = int32(len(c.ents))
		c.ents = append(c.ents, entry{})
	}
	e.live = true
	c.ents[i] = e
	return i
}

// drop frees entry i (and so, lazily, its block).
func (c *cache) drop(i int32) {
	e := &c.ents[i]
	c.used -= e.size
	e.live = false
	e.gen++
	c.freeE = append(c.freeE, i)
}

// add stores a revision with data length size at the ring pointer,
// evicting as needed, and returns its entry.  The caller has checked fits.
func (c *cache) add(oid uint64, size int64, start, end uint64) int32 {
	size += Overhead
	need := size + 1
	if c.offset+need > c.limit {
		// Wrap: the blocks between the pointer and the end of the file
		// stay where they are and move to the back of the ring order.
		for moved := int64(0); moved < c.limit-c.offset; {
			b := c.ring.popFront()
			c.ring.pushBack(b)
			moved += b.size
		}
		c.offset = headerSize
	}
	var freed int64
	for freed < need {
		b := c.ring.popFront()
		if c.live(b) {
			c.evict(b.ent)
		}
		freed += b.size
	}
	i := c.newEntry(entry{oid: oid, start: start, end: end, offset: c.offset, size: size})
	c.used += size
	c.ring.pushBack(block{size: size, ent: i, gen: c.ents[i].gen})
	c.offset += size
	c.ring.pushFront(block{size: freed - size, ent: -1})
	return i
}

func (c *cache) evict(i int32) {
	c.tot.evicts++
	e := c.ents[i]
	st := c.oids.get(e.oid)
	if e.end == 0 {
		st.cur = 0
		st.evSize, st.evStart = e.size-Overhead+1, e.start
	} else {
		c.removeNoncur(st, i)
	}
	c.drop(i)
}

func (c *cache) removeNoncur(st *oidState, i int32) {
	if st.nc == 0 {
		return
	}
	l := c.nc[st.nc]
	if k := slices.Index(l, i); k >= 0 {
		c.nc[st.nc] = slices.Delete(l, k, k+1)
	}
}

// insertNoncur keeps the non-current list of st sorted by (start, end).
func (c *cache) insertNoncur(st *oidState, i int32) {
	if st.nc == 0 {
		if n := len(c.ncFree); n > 0 {
			st.nc = c.ncFree[n-1]
			c.ncFree = c.ncFree[:n-1]
		} else {
			st.nc = int32(len(c.nc))
			c.nc = append(c.nc, nil)
		}
	}
	l := c.nc[st.nc]
	e := c.ents[i]
	// Hot objects collect many revisions: binary search, then one memmove.
	k, _ := slices.BinarySearchFunc(l, e, func(x int32, e entry) int {
		o := &c.ents[x]
		switch {
		case o.start < e.start || (o.start == e.start && o.end < e.end):
			return -1
		case o.start == e.start && o.end == e.end:
			return 0
		}
		return 1
	})
	c.nc[st.nc] = slices.Insert(l, k, i)
}

func (c *cache) noncurList(st *oidState) []int32 {
	if st.nc == 0 {
		return nil
	}
	return c.nc[st.nc]
}

func (c *cache) load(oid uint64, start uint64, code byte) {
	st := c.oids.get(oid)
	if code == 0x20 || code == 0x22 {
		if st.cur != 0 {
			c.tot.hits++
			i := st.cur - 1
			e := c.ents[i]
			dist := c.offset - e.offset
			if dist < 0 {
				dist += c.limit
			}
			if float64(dist) > c.rearrange*float64(c.limit) && c.fits(e.size) {
				// Move it forward.  Python passes the block size,
				// overhead included, to add(), which adds the overhead
				// again: the record grows by 43 bytes per move.
				c.drop(i)
				st.cur = c.add(oid, e.size, e.start, 0) + 1
			}
		} else if st.evSize != 0 {
			c.write(st, oid, st.evSize-1, st.evStart, 0)
		}
		return
	}
	// Non-current load; ZEO >= 3.10 traces carry zero here.
	if st.cur != 0 && c.ents[st.cur-1].start == start {
		c.tot.hits++
		return
	}
	l := c.noncurList(st)
	k, _ := slices.BinarySearchFunc(l, start, func(x int32, t uint64) int {
		if c.ents[x].start < t {
			return -1
		}
		return 1
	})
	if k == 0 {
		return
	}
	if start <= c.ents[l[k-1]].end {
		c.tot.hits++
	}
}

func (c *cache) hasNoncurStart(st *oidState, start uint64) bool {
	for _, i := range c.noncurList(st) {
		if c.ents[i].start == start {
			return true
		}
	}
	return false
}

func (c *cache) write(st *oidState, oid uint64, size int64, start, end uint64) {
	if end == 0 {
		if st.cur != 0 {
			return
		}
		if !c.fits(size) || c.hasNoncurStart(st, start) {
			return
		}
		c.tot.writes++
		st.cur = c.add(oid, size, start, 0) + 1
		return
	}
	for _, i := range c.noncurList(st) {
		if e := c.ents[i]; e.start == start && e.end == end {
			return
		}
	}
	if st.cur != 0 && c.ents[st.cur-1].start == start {
		return
	}
	if !c.fits(size) || c.hasNoncurStart(st, start) {
		return
	}
	c.tot.writes++
	i := c.add(oid, size, start, end)
	c.insertNoncur(st, i)
}

func (c *cache) inval(oid, tid uint64) {
	st := c.oids.get(oid)
	if tid == 0 && st.nc != 0 {
		// Startup verification: forget the non-current revisions too,
		// counting each.
		l := c.nc[st.nc]
		c.tot.invals += int64(len(l))
		for _, i := range l {
			c.drop(i)
		}
		c.nc[st.nc] = l[:0]
		c.ncFree = append(c.ncFree, st.nc)
		st.nc = 0
	}
	st.evSize = 0
	if st.cur == 0 {
		return
	}
	i := st.cur - 1
	if tid != 0 && c.ents[i].start >= tid {
		return
	}
	c.tot.invals++
	st.cur = 0
	if tid == 0 {
		c.drop(i)
		return
	}
	c.ents[i].end = tid
	c.insertNoncur(st, i)
}

// event feeds one record (code already masked with 0x7e) to the cache.
// It reports whether the record was a restart.
func (c *cache) event(dlen uint32, code byte, oid, start, end uint64) bool {
	action := code & 0x70
	switch {
	case action&0x20 != 0:
		c.tot.loads++
		c.load(oid, start, code)
	case action&0x40 != 0:
		c.write(c.oids.get(oid), oid, int64(dlen), start, end)
	case action&0x10 != 0:
		c.inval(oid, start)
	default:
		return true
	}
	return false
}
