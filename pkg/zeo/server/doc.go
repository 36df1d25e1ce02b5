// Package server is zdkit's ZEO 5/6 StorageServer: it serves one or more
// named storage.Storage values to real ZEO ClientStorage clients over TCP,
// Unix sockets or TLS (zeo-protocol.md).
//
// Design, following zeo-protocol.md §5.1 and §10.4:
//   - one reader goroutine per connection handles requests in arrival
//     order; one writer goroutine drains a FIFO of encoded frames, so
//     enqueueing never blocks and output order is the enqueue order;
//   - per storage, a visibility RW lock is held shared while a load is
//     computed and its reply enqueued, and exclusively while tpc_finish
//     makes a transaction visible and enqueues its invalidations: a load
//     reply is never overtaken by the invalidation that makes it stale;
//   - per storage, a commit lock taken at vote with a FIFO of waiting
//     voters; conflicts go back as conflict dicts and the lock stays held
//     while the client resolves (README decision 4), and a transaction
//     timeout aborts, releases the lock and closes (fixing ZEO 5.4-6.0).
package server
