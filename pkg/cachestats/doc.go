// Package cachestats is zeo-cache-stats: the report of ZEO's
// ZEO.scripts.cache_stats over a client cache trace (ZEO_CACHE_TRACE),
// with the same options and byte-identical output (apart from the elapsed
// seconds), but streaming with memory bounded by the options chosen, and
// without the Python tool's failures:
//
//   - input from a pipe works (Python dies in f.tell() after the interval
//     lines; we count the bytes we consume);
//   - under -q a record with a zero time stamp is skipped like without -q
//     (Python swallows 26 bytes instead of 8 and decodes the rest of the
//     file as garbage);
//   - a trace without any data record reports "average size 0 bytes"
//     (Python: ZeroDivisionError).
//
// The per-oid load counts are only kept for -h, the per-size tables only
// for -s (Python always builds both).
package cachestats
