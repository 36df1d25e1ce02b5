// Package storage defines what the ZEO server needs from a storage
// (ZEO 6.0 ZEOStorage's registered methods), independent of any implementation, and the
// errors the server turns into ZODB.POSException replies.
//
// The server serialises commits itself (one commit lock per storage, taken
// at vote), so a Storage sees at most one Transaction at a time; a
// GroupCommitter additionally gets plain transactions through
// CommitGroup, one at a time, while the server holds their objects'
// locks. Loads may
// run concurrently with each other and with an open Transaction; data
// stored in a Transaction must not become visible to loads before Finish.
package storage
