// Package tid implements ZODB transaction ids: 8-byte values that are also
// UTC timestamps, with the semantics of persistent.TimeStamp.
//
// A TID is two big-endian uint32 halves. The high half counts minutes since
// 1900-01-01 00:00 UTC in a calendar where every month has 31 days; the low
// half is the seconds within that minute scaled to 2^32. Because months are
// padded, comparing TIDs as unsigned integers gives chronological order,
// which is what FileStorage relies on for "strictly increasing".
//
// The string forms match what Python shows: String is str(TimeStamp)
// ("2026-11-25 05:43:17.638338", used by fsdump and fstail), Repr is
// ZODB.utils.tid_repr ("0x040d3f174b41c4cc") and Hex is the 16-digit form
// used by fsdump's "tid=%016x".
package tid
