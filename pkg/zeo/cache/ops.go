package cache

import (
	"encoding/binary"
	"fmt"

	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

func (c *Cache) corrupt(ofs int64, format string, a ...any) error {
	return &CorruptError{Path: c.path, Offset: ofs, Msg: fmt.Sprintf(format, a...)}
}

// record is a decoded allocated block.
type record struct {
	size       int64
	oid        uint64
	start, end uint64
	data       []byte
}

// readRecord reads and checks the allocated block at ofs (the checks of
// ClientCache.load/loadBefore, trailing oid included).  With withData
// false only the header is read.
func (c *Cache) readRecord(ofs int64, oid uint64, withData bool) (*record, error) {
	var h [recHeader]byte
	if _, err := c.f.ReadAt(h[:], ofs); err != nil {
		return nil, c.corrupt(ofs, "reading record: %v", err)
	}
	if h[0] != 'a' {
		return nil, c.corrupt(ofs, "status byte %#x where a record of oid %016x should be", h[0], oid)
	}
	r := &record{
		size:  int64(binary.BigEndian.Uint32(h[1:5])),
		oid:   binary.BigEndian.Uint64(h[5:13]),
		start: binary.BigEndian.Uint64(h[13:21]),
		end:   binary.BigEndian.Uint64(h[21:29]),
	}
	if r.oid != oid {
		return nil, c.corrupt(ofs, "record of oid %016x where oid %016x should be", r.oid, oid)
	}
	if binary.BigEndian.Uint16(h[29:31]) != 0 {
		return nil, c.corrupt(ofs, "record with a version")
	}
	if !withData {
		return r, nil
	}
	dlen := int64(binary.BigEndian.Uint32(h[31:35]))
	if dlen+RecordOverhead != r.size {
		return nil, c.corrupt(ofs, "data length %d does not match block size %d", dlen, r.size)
	}
	buf := make([]byte, dlen+8)
	if _, err := c.f.ReadAt(buf, ofs+recHeader); err != nil {
		return nil, c.corrupt(ofs, "reading data: %v", err)
	}
	if binary.BigEndian.Uint64(buf[dlen:]) != oid {
		return nil, c.corrupt(ofs+recHeader+dlen, "trailing oid %x does not match oid %016x", buf[dlen:], oid)
	}
	r.data = buf[:dlen:dlen]
	return r, nil
}

// Load returns the current revision of oid: its data and start tid.
// ok is false on a miss.  A hit far behind the ring pointer is copied
// forward (ZODB 3.10.3's "slightly MRU-ish" rearrangement); like any
// store, the copy evicts what lies at the ring pointer, which may be
// other current records, so loading one oid can make a later load of
// another miss (ZEO's ClientCache.load does the same).
func (c *Cache) Load(oid uint64) (data []byte, tid uint64, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil, 0, false, ErrClosed
	}
	return c.load(oid, 0)
}

func (c *Cache) load(oid, before uint64) ([]byte, uint64, bool, error) {
	ofs, ok := c.current[oid]
	if !ok {
		c.trace.record(cachetrace.CodeLoadMiss, &oid, 0, 0, 0)
		return nil, 0, false, nil
	}
	r, err := c.readRecord(ofs, oid, true)
	if err == nil && r.end != 0 {
		err = c.corrupt(ofs, "indexed as current but has end tid %016x", r.end)
	}
	if err != nil {
		// ZEO raises AssertionError on every later load too; we forget
		// the damaged record so the client refetches it from the server.
		delete(c.current, oid)
		c.n--
		return nil, 0, false, err
	}
	if before != 0 && r.start >= before {
		return nil, 0, false, nil
	}
	c.stats.Accesses++
	c.trace.record(cachetrace.CodeLoadHit, &oid, r.start, 0, len(r.data))
	dist := c.cur - ofs
	if dist < 0 {
		dist += c.maxsize
	}
	if float64(dist) > c.rearrange && c.maxsize > 10*int64(len(r.data)) && r.size > 4 {
		delete(c.current, oid)
		if err := c.writeAt(freeHeader(nil, r.size), ofs); err != nil {
			return nil, 0, false, err
		}
		if err := c.store(oid, r.start, 0, r.data, r.size); err != nil {
			return nil, 0, false, err
		}
	}
	return r.data, r.start, true, nil
}

// LoadBefore returns the revision of oid that was current just before
// transaction `before`: data, start tid and end tid (0 if it is the
// current revision).  ok is false on a miss.
func (c *Cache) LoadBefore(oid, before uint64) (data []byte, start, end uint64, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil, 0, 0, false, ErrClosed
	}
	l := c.noncur[oid]
	// The revision with the largest start tid below before.
	i := len(l)
	for i > 0 && l[i-1].start >= before {
		i--
	}
	if i > 0 {
		rv := l[i-1]
		r, err := c.readRecord(rv.ofs, oid, true)
		if err == nil && (r.start != rv.start || r.end == 0) {
			err = c.corrupt(rv.ofs, "indexed as non-current revision %016x but holds %016x-%016x", rv.start, r.start, r.end)
		}
		if err != nil {
			c.delNoncur(oid, rv.start)
			c.n--
			return nil, 0, 0, false, err
		}
		if r.end >= before {
			c.stats.Accesses++
			// ZEO >= 3.9 passes "" as the start tid: eight NUL bytes
			// (ZEO 5-6 crash here on Python 3: cache fault 4).
			c.trace.record(cachetrace.CodeLoadNoncurHit, &oid, 0, r.start, 0)
			return r.data, r.start, r.end, true, nil
		}
	}
	data, start, ok, err = c.load(oid, before)
	if err != nil || ok {
		return data, start, 0, ok, err
	}
	c.trace.record(cachetrace.CodeLoadNoncurMiss, &oid, 0, before, 0)
	return nil, 0, 0, false, nil
}

// Store adds a revision of oid valid from start to end (end 0: the current
// revision).  Storing the current revision that is already there does
// nothing; a different current revision gives ErrAlreadyCurrent.  A
// revision too large for the file is silently not stored, as in ZEO.
func (c *Cache) Store(oid, start, end uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return ErrClosed
	}
	if end != 0 && end <= start {
		// ZEO would write it, and its next open would discard the
		// whole file (start < end is asserted there).
		return fmt.Errorf("%w: oid %016x from %016x to %016x", ErrInvalidRange, oid, start, end)
	}
	if end == 0 {
		if ofs, ok := c.current[oid]; ok {
			r, err := c.readRecord(ofs, oid, false)
			if err != nil {
				return err
			}
			if r.start == start {
				return nil
			}
			return fmt.Errorf("%w %016x (have %016x, storing %016x)", ErrAlreadyCurrent, oid, r.start, start)
		}
	} else {
		for _, r := range c.noncur[oid] {
			if r.start == start {
				return nil
			}
		}
	}
	size := RecordOverhead + int64(len(data))
	if size >= min(MaxBlockSize, c.maxsize-HeaderSize) {
		return nil
	}
	c.stats.Adds++
	c.stats.AddedBytes += size
	c.n++
	if err := c.store(oid, start, end, data, size); err != nil {
		return err
	}
	if end != 0 {
		c.trace.record(cachetrace.CodeStoreNoncurrent, &oid, start, end, len(data))
	} else {
		c.trace.record(cachetrace.CodeStoreCurrent, &oid, start, 0, len(data))
	}
	return nil
}

// makeroom walks blocks from the ring pointer, evicting records, until at
// least n bytes are covered, and returns the bytes walked.
func (c *Cache) makeroom(n int64) (int64, error) {
	if c.cur+n > c.maxsize {
		c.cur = HeaderSize
	}
	ofs := c.cur
	var h [29]byte
	for n > 0 {
		if _, err := c.f.ReadAt(h[:1], ofs); err != nil {
			return 0, c.corrupt(ofs, "reading block: %v", err)
		}
		var size int64
		switch h[0] {
		case 'a':
			if _, err := c.f.ReadAt(h[:], ofs); err != nil {
				return 0, c.corrupt(ofs, "reading record: %v", err)
			}
			size = int64(binary.BigEndian.Uint32(h[1:5]))
			oid := binary.BigEndian.Uint64(h[5:13])
			start := binary.BigEndian.Uint64(h[13:21])
			end := binary.BigEndian.Uint64(h[21:29])
			c.stats.Evicts++
			c.stats.EvictedBytes += size
			// Only drop an index entry that points here (Python
			// dropped whatever the oid had: cache fault 2).
			if end == 0 {
				if c.current[oid] == ofs {
					delete(c.current, oid)
					c.n--
				}
			} else {
				for _, r := range c.noncur[oid] {
					if r.start == start && r.ofs == ofs {
						c.delNoncur(oid, start)
						c.n--
						break
					}
				}
			}
		case 'f':
			if _, err := c.f.ReadAt(h[:5], ofs); err != nil {
				return 0, c.corrupt(ofs, "reading block: %v", err)
			}
			size = int64(binary.BigEndian.Uint32(h[1:5]))
		case '1', '2', '3', '4':
			size = int64(h[0] - '0')
		default:
			return 0, c.corrupt(ofs, "unknown status byte value %#x", h[0])
		}
		if size <= 0 {
			return 0, c.corrupt(ofs, "block of size %d", size)
		}
		ofs += size
		n -= size
	}
	return ofs - c.cur, nil
}

// store writes a record at the ring pointer in ZEO's crash-safe order: a
// free block header covering everything walked, the record body and the
// free block after it, then the 'a' header.
func (c *Cache) store(oid, start, end uint64, data []byte, size int64) error {
	nfree, err := c.makeroom(size + 1)
	if err != nil {
		return err
	}
	excess := nfree - size
	ofs := c.cur
	b := make([]byte, 0, size+5)
	b = append(b, 'f')
	b = binary.BigEndian.AppendUint32(b, uint32(nfree))
	b = binary.BigEndian.AppendUint64(b, oid)
	b = binary.BigEndian.AppendUint64(b, start)
	b = binary.BigEndian.AppendUint64(b, end)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	b = binary.BigEndian.AppendUint64(b, oid)
	if excess > 0 {
		b = freeHeader(b, excess)
	}
	if err := c.writeAt(b, ofs); err != nil {
		return err
	}
	if c.afterBody != nil {
		c.afterBody()
	}
	var a [5]byte
	a[0] = 'a'
	binary.BigEndian.PutUint32(a[1:], uint32(size))
	if err := c.writeAt(a[:], ofs); err != nil {
		return err
	}
	if end != 0 {
		// Store checked that (oid, start) is not indexed yet.
		c.setNoncur(oid, start, ofs)
	} else {
		c.current[oid] = ofs
	}
	c.cur += size
	return nil
}

// Invalidate records that transaction tid changed oid: the current
// revision, if cached, becomes non-current ending at tid.  tid 0 (ZEO's
// None, used by cache verification) frees the current revision instead
// and keeps the non-current ones.
func (c *Cache) Invalidate(oid, tid uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return ErrClosed
	}
	ofs, ok := c.current[oid]
	if !ok {
		c.trace.record(cachetrace.CodeInvalidateMiss, &oid, tid, 0, 0)
		return nil
	}
	r, err := c.readRecord(ofs, oid, false)
	if err != nil {
		return err
	}
	if r.end != 0 {
		return c.corrupt(ofs, "indexed as current but has end tid %016x", r.end)
	}
	if tid == 0 {
		delete(c.current, oid)
		if err := c.writeAt(freeHeader(nil, r.size), ofs); err != nil {
			return err
		}
		c.trace.record(cachetrace.CodeInvalidateDiscard, &oid, 0, 0, 0)
		c.n--
		return nil
	}
	if tid <= r.start {
		// ZEO logs "Ignoring invalidation with same tid as current" but
		// has already dropped the index entry (cache fault 1).  A true no-op
		// here, also for an older tid, which ZEO would write as an end
		// tid below the start tid, a record its next open rejects.
		if ev := logAt(c.log, logging.LevelWarning); ev != nil {
			ev.Msg("Ignoring invalidation with same tid as current")
		}
		return nil
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], tid)
	if err := c.writeAt(t[:], ofs+21); err != nil {
		return err
	}
	delete(c.current, oid)
	if err := c.dropDisplaced(c.setNoncur(oid, r.start, ofs)); err != nil {
		return err
	}
	c.trace.record(cachetrace.CodeInvalidateHit, &oid, tid, 0, 0)
	return nil
}

// SetLastTid records the last transaction the cache is up to date with,
// in the header.  0 is ignored; an equal tid is ignored; a smaller one is
// an error while the cache holds records.
func (c *Cache) SetLastTid(tid uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return ErrClosed
	}
	if tid == 0 {
		return nil
	}
	if tid <= c.tid && c.n > 0 {
		if tid == c.tid {
			return nil
		}
		return fmt.Errorf("%w: new last tid (%d) must be greater than previous one (%d)", ErrTidBackwards, tid, c.tid)
	}
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], tid)
	if err := c.writeAt(t[:], 4); err != nil {
		return err
	}
	c.tid = tid
	return nil
}

// Clear empties the cache (ZEO does this when the server cannot tell
// which objects changed while the client was away).  The header tid is
// kept, as in ZEO.
func (c *Cache) Clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return ErrClosed
	}
	if err := c.f.Truncate(HeaderSize); err != nil {
		return fmt.Errorf("cache: %s: %w", c.path, err)
	}
	return c.initFile(HeaderSize)
}

// Contents calls fn for every current revision (oid, start tid).
func (c *Cache) Contents(fn func(oid, tid uint64) bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for oid, ofs := range c.current {
		r, err := c.readRecord(ofs, oid, false)
		if err != nil {
			return err
		}
		if !fn(oid, r.start) {
			return nil
		}
	}
	return nil
}

// Close flushes the trace, syncs the file and releases the lock.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.trace.close()
	c.trace = nil
	if serr := c.sync(); err == nil && serr != nil {
		err = fmt.Errorf("cache: %s: %w", c.path, serr)
	}
	if cerr := c.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("cache: %s: %w", c.path, cerr)
	}
	c.f = nil
	if c.lock != nil {
		c.lock.Unlock()
	}
	return err
}
