// Package pgstorage serves a ZODB database kept in PostgreSQL, in
// RelStorage's own schema (RelStorage 3.5 through 4.2), behind the
// storage interface of the ZEO server (pkg/zeo/storage). Several runzeo
// processes, RelStorage applications and RelStorage's zodbconvert and
// zodbpack can share one database.
//
// The commit follows RelStorage 4.2's PostgreSQL adapter
// (storage/tpc/vote.py and adapters/postgresql/mover.py): at vote the
// transaction's states go into the session's temp_store table and one
// call of lock_objects_and_detect_conflicts takes the per-object advisory
// locks (key = oid) and returns the conflicts, which go back to the ZEO
// client for resolution; at finish lock_and_choose_tid_and_move takes the
// global commit lock (advisory lock -1), chooses the tid and moves the
// rows, and COMMIT (or ROLLBACK, on abort, timeout or a vanished client)
// frees every lock.
//
// Commits made elsewhere (another runzeo, a RelStorage application) are
// found by polling object_state by tid, woken by LISTEN zodb_commit (our
// commits NOTIFY) and by a timer (RelStorage sends no NOTIFY). Because a
// tid is chosen under lock -1 as more than every committed tid, and the
// lock is released only after the commit is visible, a poll for
// tid > last never misses a commit. The server publishes what a poll
// returns in tid order (storage.CommitFeed), and before answering
// tpc_finish(T) it publishes every commit below T that it had not yet
// delivered, so no client ever sees its last tid go backwards.
//
// Blobs (BlobStorage, WithBlobs) are large objects in the database,
// with the blob directory as this server's cache (blob.go).
//
// Iteration and undo (history-preserving) are in history.go, pack (with
// garbage collection, under RelStorage's pack lock -2) in pack.go;
// restore (copyTransactionsFrom) is the vote of a transaction with a
// given tid (txn.go).
package pgstorage
