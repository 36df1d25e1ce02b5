package filestorage

import (
	"slices"
	"sort"
)

// Index maps oids to the position of their newest data record. It is
// laid out like ZODB 6.3's fsIndex: oids are grouped by
// their 6-byte prefix, and each group keeps sorted 2-byte suffixes next
// to 6-byte positions, so a dense index costs about 8 bytes per oid
// instead of the 20-45 bytes of a Go map. Appending ever larger oids (the
// normal case: new_oid hands out max+1) is amortised O(1); updating an
// existing oid is a binary search.
//
// An Index is not safe for concurrent mutation; FileStorage guards it.
type Index struct {
	buckets  map[uint64]*bucket
	prefixes []uint64 // sorted keys of buckets
	n        int
	// the bucket Set used last: scans and commits touch runs of oids
	// with the same prefix.
	lastP uint64
	lastB *bucket
}

// bucket is an fsBucket: n sorted 2-byte big-endian suffixes, then n
// 6-byte big-endian positions, in two slices. A bucket loaded from an
// .index file points straight into the file's bytes (no copy); an
// insert reallocates (the slices are capped).
type bucket struct {
	keys []byte // 2 bytes per key
	vals []byte // 6 bytes per key
}

func (b *bucket) n() int { return len(b.keys) / 2 }

func (b *bucket) key(i int) uint16 { return uint16(b.keys[2*i])<<8 | uint16(b.keys[2*i+1]) }

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{buckets: map[uint64]*bucket{}} }

// Len is the number of oids (ZODB's len(storage)).
func (x *Index) Len() int { return x.n }

func getVal(v []byte, i int) int64 {
	v = v[i*6 : i*6+6]
	return int64(v[0])<<40 | int64(v[1])<<32 | int64(v[2])<<24 | int64(v[3])<<16 | int64(v[4])<<8 | int64(v[5])
}

func putVal(v []byte, i int, p int64) {
	v = v[i*6 : i*6+6]
	v[0], v[1], v[2], v[3], v[4], v[5] = byte(p>>40), byte(p>>32), byte(p>>24), byte(p>>16), byte(p>>8), byte(p)
}

func (b *bucket) find(k uint16) (int, bool) {
	n := b.n()
	if n > 0 && b.key(n-1) < k {
		return n, false
	}
	i := sort.Search(n, func(i int) bool { return b.key(i) >= k })
	return i, i < n && b.key(i) == k
}

// Get returns the position recorded for oid.
func (x *Index) Get(oid Oid) (int64, bool) {
	b := x.buckets[uint64(oid)>>16]
	if b == nil {
		return 0, false
	}
	i, ok := b.find(uint16(oid))
	if !ok {
		return 0, false
	}
	return getVal(b.vals, i), true
}

// Set records pos (which must fit in 48 bits) for oid.
func (x *Index) Set(oid Oid, pos int64) {
	p := uint64(oid) >> 16
	b := x.lastB
	if b == nil || x.lastP != p {
		b = x.buckets[p]
	}
	if b == nil {
		b = &bucket{}
		x.buckets[p] = b
		i, _ := slices.BinarySearch(x.prefixes, p)
		x.prefixes = slices.Insert(x.prefixes, i, p)
	}
	x.lastP, x.lastB = p, b
	k := uint16(oid)
	i, ok := b.find(k)
	if ok {
		putVal(b.vals, i, pos)
		return
	}
	x.n++
	if i == b.n() { // appending the largest oid: the usual case
		b.keys = append(b.keys, byte(k>>8), byte(k))
		b.vals = append(b.vals, byte(pos>>40), byte(pos>>32), byte(pos>>24), byte(pos>>16), byte(pos>>8), byte(pos))
		return
	}
	b.keys = slices.Insert(b.keys, 2*i, byte(k>>8), byte(k))
	b.vals = slices.Insert(b.vals, i*6, 0, 0, 0, 0, 0, 0)
	putVal(b.vals, i, pos)
}

// MaxKey returns the largest oid (fsIndex.maxKey); ok is false when empty.
func (x *Index) MaxKey() (Oid, bool) {
	if len(x.prefixes) == 0 {
		return 0, false
	}
	p := x.prefixes[len(x.prefixes)-1]
	b := x.buckets[p]
	return Oid(p<<16 | uint64(b.key(b.n()-1))), true
}

// Range calls fn for every oid in ascending order until fn returns false.
func (x *Index) Range(fn func(oid Oid, pos int64) bool) {
	for _, p := range x.prefixes {
		b := x.buckets[p]
		for i := 0; i < b.n(); i++ {
			if !fn(Oid(p<<16|uint64(b.key(i))), getVal(b.vals, i)) {
				return
			}
		}
	}
}

// Ceil returns the smallest oid >= oid (record_iternext walks with it).
func (x *Index) Ceil(oid Oid) (Oid, int64, bool) {
	p := uint64(oid) >> 16
	j, _ := slices.BinarySearch(x.prefixes, p)
	for ; j < len(x.prefixes); j++ {
		q := x.prefixes[j]
		b := x.buckets[q]
		i := 0
		if q == p {
			i, _ = b.find(uint16(oid))
		}
		if i < b.n() {
			return Oid(q<<16 | uint64(b.key(i))), getVal(b.vals, i), true
		}
	}
	return 0, 0, false
}

// Clone returns an independent copy.
func (x *Index) Clone() *Index {
	c := &Index{buckets: make(map[uint64]*bucket, len(x.buckets)), prefixes: slices.Clone(x.prefixes), n: x.n}
	for p, b := range x.buckets {
		c.buckets[p] = &bucket{keys: slices.Clone(b.keys), vals: slices.Clone(b.vals)}
	}
	return c
}

// setBucket installs a whole bucket read from an index file (keys sorted,
// no duplicates, checked by the caller).
func (x *Index) setBucket(p uint64, keys, vals []byte) {
	if old := x.buckets[p]; old != nil {
		x.n -= old.n()
	} else {
		i, _ := slices.BinarySearch(x.prefixes, p)
		x.prefixes = slices.Insert(x.prefixes, i, p)
	}
	x.buckets[p] = &bucket{keys: keys, vals: vals}
	x.lastB = nil
	x.n += len(keys) / 2
}
