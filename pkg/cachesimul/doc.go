// Package cachesimul is zeo-cache-simul: ZEO's ZEO.scripts.cache_simul
// circular cache simulation over a client cache trace, with the same
// options and byte-identical output wherever the Python tool does not
// crash.
//
// Python runs two simulators (one for the whole run, one per interval) fed
// with the same events.  Their restart() only resets counters and keeps
// the cache contents, so the two caches are always identical; we simulate
// the cache once and keep two sets of counters, which halves the work.
//
// Faithfully kept Python quirks (they change the numbers): a rearranged
// record grows by 43 bytes each time it is moved (the block size already
// includes the overhead and add() adds it again); 0x24/0x26 loads look at
// the start-tid field, which ZEO >= 3.10 writers leave zero, so they always
// miss; invalidate(oid, None) drops the non-current revisions and counts
// each as an invalidation.
//
// Python crashes we fix instead (docs/cache-tools.md lists them too):
//   - an interval that holds only a restart record (TypeError in report):
//     the line of that empty interval is left out;
//   - a record too big for the simulated cache (AssertionError): it is
//     ignored, as the real cache silently does not store it;
//   - a store with data length 0 (AssertionError): simulated as a 43-byte
//     record;
//   - an invalidation whose tid is not above the current revision's start
//     tid (AssertionError; concatenated traces): ignored, like the fixed
//     same-tid invalidation of the real cache;
//   - a store of a revision whose (oid, start tid) is already cached with a
//     different end tid (AssertionError): ignored;
//   - a non-current load whose tid equals a cached start tid (TypeError,
//     pre-3.10 traces only): revisions starting at that tid are not
//     considered, as Python's bisect would if it could compare.
package cachesimul
