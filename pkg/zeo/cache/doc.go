// Package cache is the ZEO client cache: the persistent ".zec" file that
// ZEO's ClientStorage keeps between runs (ZEO.cache.ClientCache), byte
// compatible with Python ZEO 4-6 in both directions, plus its trace
// (ZEO_CACHE_TRACE).  docs/cache-tools.md describes the file and the trace.
//
// The file is a 12-byte header ("ZEC3" and the last tid the cache knows)
// followed by blocks that tile the rest of the file exactly: allocated
// records ('a', one object revision, 43 bytes of overhead plus the data)
// and free blocks ('f' with a size, or '1'..'4' for 1-4 byte blocks).  New
// records are written at a ring pointer that walks round the file,
// evicting whatever it passes over; every record is followed by a free
// block so the pointer always sits on a block boundary.  A record is
// written free-header first, then body, then the 'a' header, so a crash at
// any point leaves a file that scans.  The in-memory index (current oid ->
// offset, non-current oid -> start tid -> offset) is rebuilt by scanning
// the file when it is opened; a file that fails to scan is moved aside to
// "<path>.bad" (or deleted if one exists) and a fresh one is made.
//
// ZEO 6.0 ZEO/cache.py ClientCache faults fixed here (comments name them
// "cache fault N"):
//  1. invalidate(oid, tid) with tid equal to the current revision's start
//     tid is a true no-op (Python dropped the index entry but left the
//     record current on disk, so a later store made a duplicate and the
//     next open threw the whole cache away); opening a file with two
//     current records for one oid keeps the newer and frees the other
//     instead of discarding the cache;
//  2. eviction only drops an index entry that points at the evicted block;
//  3. growing the file writes a free block of the real size at the old end
//     (Python claimed maxsize-12 bytes, and growing twice lost the cache),
//     and blocks running past the end are clamped;
//  4. trace records of loadBefore misses/hits (0x24/0x26) carry eight NUL
//     bytes where ZEO 5-6 crash on Python 3, data lengths of 8 MiB or more
//     are saturated instead of raising after the store, and time stamps
//     after 2038 are written modulo 2^32 instead of raising.
//
// Also fixed: two records of one (oid, start) (a revision re-stored after
// its invalidation and invalidated again) free the displaced one instead of
// leaving an unindexed record that skews the count; an invalidation older
// than the cached revision, or a non-current store with end <= start, is
// refused instead of writing a record the next open rejects; a record
// found damaged at load time is forgotten instead of failing every load.
//
// Use from a ZEO client (ZEO 6.0 ClientStorage's cache handling):
//
//	c, err := cache.Open(cache.Name(varDir, client, storage), cache.Options{Size: size})
//	stale, err := c.Verify(serverLastTid, getInvalidations) // on each connect
//	data, start, end, ok, err := c.LoadBefore(oid, before)  // ZEO >= 4.2 load
//	c.Store(oid, start, end, data)                           // after a server load; end 0 = current
//	c.Invalidate(oid, tid); c.SetLastTid(tid)                // tpc_finish / invalidateTransaction
//	c.Close()
//
// Oids and tids are the 8-byte big-endian values as uint64 (ZODB's u64);
// tid 0 means z64 / None.  Tracing follows ZEO_CACHE_TRACE unless
// Options.Trace says otherwise.  OpenTemp gives the anonymous transient
// cache of clients without a name.
package cache
