// Package clientstorage is a storage that is itself a ZEO client of
// another server: ZODB's <zeoclient> (ZEO 6 ClientStorage) served by
// runzeo, the fan-out ZEO documents for scaling reads (ZEO 6.0
// src/ZEO/tests/zeo-fan-out.test).
//
// Loads go upstream through the client cache of pkg/zeo/client
// (CachedStorage); commits are forwarded upstream with the two-phase
// protocol (tpc_begin, stores, vote, tpc_finish or tpc_abort); what the
// upstream's other clients commit is relayed to the serving server's
// clients in tid order through storage.Relayer, as ZEO 6's
// StorageServerDB does for a ClientStorage; and every (re)connection to
// the upstream makes the server drop its clients so that they revalidate
// (ZEO 6 ClientStorage.notify_connected calling invalidateCache).
//
// Not supported: undo, restore (copyTransactionsFrom), iteration and a
// shared blob directory; blobs are fetched from the upstream into
// blob-dir on first use and kept there.
package clientstorage
