// Package cachetrace reads and writes ZEO client cache trace files.
//
// A trace is what ZEO's ClientCache appends to "<cache>.zec.trace" when the
// ZEO_CACHE_TRACE environment variable is set: a flat sequence of records,
// each a 26-byte fixed part (struct ">iiH8s8s": time stamp, dlen<<8|code,
// oid length, start tid, end tid) followed by the oid.  There is no file
// header, no framing and no checksum, so a crashed writer can leave a partial
// record at the end, and the analysis tools (ZEO.scripts.cache_stats and
// cache_simul) resynchronise on a zero time stamp by skipping 8 bytes.
//
// The Reader streams records from a plain file, a gzip stream or a pipe with
// constant memory and no seeking: it counts consumed bytes itself (Python's
// cache_stats calls f.tell() and dies on a pipe) and performs the 8-byte skip
// with a look-ahead buffer.  Both irregularities are reported as typed errors
// (*MisalignedError, which is not fatal, and *TruncatedError at the end).
//
// The Writer produces exactly the bytes ZEO >= 3.10 writes, with the two
// Python writer limits fixed (see Writer).
package cachetrace
