// Package filestorage reads and writes ZODB FileStorage files (Data.fs)
// byte-compatibly with Python ZODB: the FS30/FS21 layout, the .index
// file, Data.fs.lock, crash truncation at open, the two-phase commit,
// undo and the read calls a ZEO server needs. The format is described in
// docs/design/data-fs.md; comments cite the ZODB 6.3 functions they follow.
//
// # Opening
//
//	s, err := filestorage.Open("Data.fs", filestorage.Options{})
//
// A writable open takes Data.fs.lock with flock(2) (as zc.lockfile does,
// so a Python and a Go writer exclude each other), loads Data.fs.index
// when Python's sanity check accepts it and scans the tail after it, or
// rebuilds the index by scanning the whole file (and saves it at once).
// A trailing transaction left in status 'c' by a crash, or one that runs
// past the end, is copied to Data.fs.trN and cut off. A read-only open
// takes no lock, never writes and stops before such a transaction. Close
// saves the index.
//
// # Mapping onto ZEO server methods
//
//	loadBefore(oid, tid)          LoadBefore -> data, start, end (end 0 = None);
//	                              ErrNoRevisionBefore = None; *KeyError = POSKeyError
//	load / loadSerial / getTid    Load, LoadSerial, GetTid
//	history(oid, size)            History
//	lastTransaction / len / size  LastTransaction, Len, Size
//	new_oids(n)                   NewOids
//	tpc_begin(tid?, status)       Begin / BeginWithTID -> *Txn (holds the commit lock)
//	storea(oid, serial, data)     Txn.Store -> *ConflictError{Oid, Committed, Expected}
//	deleteObject                  Txn.DeleteObject
//	checkCurrentSerialInTxn       Txn.CheckCurrentSerial
//	undoa(id)                     Txn.Undo -> oids
//	vote                          Txn.Vote (writes status 'c', fsyncs); pending
//	                              conflicts -> *VoteConflictError, txn stays open
//	pack(t, gc)                   Pack(tid.FromUnix(t), gc)
//	tpc_finish                    Txn.Finish -> committed tid (flips the status, fsyncs)
//	tpc_abort                     Txn.Abort (cuts the file back)
//	undoLog / undoInfo            UndoLog(first, last, filter)
//	iterator / record_iternext    Iterate(start, stop), NextOid
//	lastInvalidations(n)          LastInvalidations
//	restorea / copyTransactions   BeginWithTID + Txn.Restore (prev_txn backpointers)
//	storeBlob / loadBlob          Txn.StoreBlob, LoadBlob, TemporaryDirectory
//	                              (Options.BlobDir, bushy/lawn layouts)
//
// Conflicts are never resolved here (the server never runs application
// code): Store returns a *ConflictError at once and remembers it; Vote
// then fails with a *VoteConflictError listing every pending conflict
// (ZEO 5's conflict dicts: oid, serials (Committed, Expected), data)
// without writing anything. The client resolves, stores again with the
// committed serial (which clears that conflict) and votes again.
//
// Tools: Check is fstest, Dump is fsdump, RefsReport is fsrefs, Recover
// is fsrecover, OpenIterator iterates a file without opening a storage.
// Package zodbpickle finds references.
//
// Group commit: with Options.DeferFinishSync, Finish does not fsync; the
// server finishes several transactions and then calls Sync once before
// replying to their clients. Vote still fsyncs the 'c' record, so the
// bytes on disk are always a valid file.
//
// An Iterator reads the file it was created on; after a pack swaps the
// file, a running iterator fails with an error rather than mixing files.
//
// # Errors
//
// Damaged files give a *CorruptError naming the file, offset and field
// (errors.Is(err, ErrCorrupt)); nothing panics on bad input. Other
// sentinels: ErrPOSKey (*KeyError), ErrConflict (*ConflictError),
// ErrUndo (*UndoError; a failed undo of objects changed later is a
// *MultipleUndoError listing them all, as ZODB's MultipleUndoErrors),
// ErrReadOnly, ErrLocked, ErrClosed, ErrTransaction, ErrFormat,
// ErrBadIndex (*IndexError). DumpTolerant reads damaged files as ZODB's
// FileIterator does: Python's one warning, no error.
//
// # Memory
//
// The index is laid out like ZODB's fsIndex: per 6-byte oid prefix a
// sorted array of 2-byte suffixes and 6-byte positions, about 8 bytes per
// object.
package filestorage
