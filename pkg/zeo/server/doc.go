// Package server is zdkit's ZEO 5/6 StorageServer: it serves one or more
// named storage.Storage values to real ZEO ClientStorage clients over TCP,
// Unix sockets or TLS (docs/design/wire-protocol.md).
//
// Design (docs/design/commit.md has the rules it keeps):
//   - one reader goroutine per connection handles requests in arrival
//     order and reads through a buffer; encoded frames go into a FIFO,
//     written by the reader itself after a burst of requests or by a
//     writer goroutine for frames queued from elsewhere, so enqueueing
//     never blocks and output order is the enqueue order;
//   - per storage, a visibility RW lock is held shared while a load is
//     computed and its reply enqueued, and exclusively while tpc_finish
//     makes a transaction visible and enqueues its invalidations: a load
//     reply is never overtaken by the invalidation that makes it stale;
//   - per storage, a commit lock taken at vote with a FIFO of waiting
//     voters; conflicts go back as conflict dicts and the lock stays held
//     while the client resolves (runzeo never runs application code), and a transaction
//     timeout aborts, releases the lock and closes (fixing ZEO 5.4-6.0);
//   - group commit on a storage.GroupCommitter: a transaction
//     of plain stores locks only its objects at vote, is written at
//     tpc_finish, and a committer goroutine makes each batch durable
//     (two fsyncs per batch) before publishing it and queueing its
//     invalidations and replies in tid order. Other transactions (undo,
//     restore, blobs) and other storages take the storage-wide lock.
//     docs/performance.md has the design and the figures.
package server
