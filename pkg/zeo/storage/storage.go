package storage

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zdkit/zdkit/pkg/tid"
)

// OID is a ZODB object id (8 bytes big-endian on the wire).
type OID uint64

// Bytes returns the 8-byte wire form.
func (o OID) Bytes() []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(o))
	return b
}

func (o OID) String() string { return fmt.Sprintf("0x%016x", uint64(o)) }

// OIDFromBytes parses an 8-byte oid.
func OIDFromBytes(b []byte) (OID, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: oid of %d bytes", ErrBadArgument, len(b))
	}
	return OID(binary.BigEndian.Uint64(b)), nil
}

// TIDFromBytes parses an 8-byte tid/serial.
func TIDFromBytes(b []byte) (tid.TID, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: tid of %d bytes", ErrBadArgument, len(b))
	}
	return tid.FromBytes(b), nil
}

// TIDBytes returns the 8-byte wire form of a tid.
func TIDBytes(t tid.TID) []byte {
	b := t.Bytes()
	return b[:]
}

// Interface is a (module, name) pair as get_info reports it.
type Interface struct{ Module, Name string }

// Info describes a storage for get_info.
type Info struct {
	Name                   string
	SupportsUndo           bool
	SupportsRecordIternext bool
	ReadOnly               bool
	// Interfaces enable client features (IStorageRestoreable,
	// IStorageIteration, IStorageUndoable, IStorageCurrentRecordIteration,
	// IBlobStorage, IExternalGC, ...). Order is kept on the wire.
	Interfaces []Interface
}

// TxnMeta is what tpc_begin carries.
type TxnMeta struct {
	User        []byte
	Description []byte
	// Extension is the decoded extension dict with str keys, in the
	// client's order. Values are wire values (see package wire); a storage
	// that persists it (FileStorage) pickles it with protocol 3.
	Extension []ExtItem
	// TID and Status are set only for restores/copies (copyTransactionsFrom);
	// TID 0 means "choose one".
	TID    tid.TID
	Status byte
}

// ExtItem is one extension key/value.
type ExtItem struct {
	Key   string
	Value any
}

// HistoryEntry is one element of history().
type HistoryEntry struct {
	TID         tid.TID
	Time        float64
	User        []byte
	Description []byte
	Size        int
	Extension   []ExtItem
}

// UndoEntry is one element of undoLog()/undoInfo().
type UndoEntry struct {
	ID          []byte // opaque undo id
	TID         tid.TID
	Time        float64
	User        []byte
	Description []byte
	Size        int
	Extension   []ExtItem
}

// TxnRecord is one transaction of the iterator.
type TxnRecord struct {
	TID         tid.TID
	Status      byte
	User        []byte
	Description []byte
	Extension   []ExtItem
	Records     []DataRecord
}

// DataRecord is one object record inside a TxnRecord.
type DataRecord struct {
	OID     OID
	TID     tid.TID
	Data    []byte  // nil for a deletion / undone creation
	DataTxn tid.TID // backpointer target, 0 when the data is in this record
}

// Invalidation is one (tid, oids) entry of the server's queue.
type Invalidation struct {
	TID  tid.TID
	OIDs []OID
}

// Storage is the method set the ZEO server calls. Implementations must be
// safe for concurrent use by loads; commit methods are serialised by the
// server.
type Storage interface {
	Info() Info
	// Len is the number of objects, Size the storage size in bytes
	// (get_info and the info() callback).
	Len() int
	Size() int64
	LastTransaction() tid.TID

	// LoadBefore returns the revision of oid current just before `before`:
	// its data, start tid and the tid of the next revision (0 = current).
	// ok is false when the object exists but has no revision before
	// `before`. A missing oid, or one whose current record is a deletion,
	// gives *POSKeyError.
	LoadBefore(oid OID, before tid.TID) (data []byte, start, end tid.TID, ok bool, err error)
	LoadSerial(oid OID, serial tid.TID) ([]byte, error)
	History(oid OID, size int) ([]HistoryEntry, error)

	// NewOID allocates a fresh oid. Implementations raise their counter
	// above any oid that Store/Restore commits.
	NewOID() (OID, error)

	// Begin starts the storage-level transaction. The server calls it under
	// its commit lock at vote, replays the buffered operations on the
	// returned Transaction, then calls Vote and later Finish or Abort.
	Begin(meta TxnMeta) (Transaction, error)

	// Pack removes revisions not needed to read as of t (a tid-time);
	// gc asks for garbage collection of unreachable objects where supported.
	Pack(t tid.TID, gc bool) error

	// Close releases resources.
	Close() error
}

// Transaction is one storage-level transaction.
type Transaction interface {
	// Store records a new revision. serial is the tid the client read (0 for
	// a new object). A mismatch gives *ConflictError (never resolved by the
	// storage: the server returns it to the client for resolution).
	// Storing the same oid twice keeps the later data.
	Store(oid OID, serial tid.TID, data []byte) error
	// Restore copies a record verbatim (no conflict check).
	Restore(oid OID, serial tid.TID, data []byte, prevTxn tid.TID) error
	// Delete records a deletion after checking serial (IExternalGC).
	Delete(oid OID, serial tid.TID) error
	// CheckCurrent gives *ConflictError with Read set when oid's current
	// tid differs from serial (readCurrent).
	CheckCurrent(oid OID, serial tid.TID) error
	// Undo undoes the transaction with the given undo id and returns the
	// oids it touched. Storages without undo return ErrUndoUnsupported.
	Undo(undoID []byte) ([]OID, error)
	// Vote is the storage's tpc_vote: last chance to fail.
	Vote() error
	// Finish makes the transaction visible and durable and returns its tid.
	Finish() (tid.TID, error)
	// Abort drops everything.
	Abort()
}

// Undoer is implemented by storages that support undoLog/undoInfo.
type Undoer interface {
	// UndoLog lists transactions newest first, skipping `first` matching
	// entries and returning at most last-first of them; filter may be nil.
	UndoLog(first, last int, filter func(UndoEntry) bool) ([]UndoEntry, error)
}

// Iterator is implemented by storages offering IStorageIteration.
type Iterator interface {
	// Iterate calls fn for each transaction with start <= tid <= stop
	// (0 stop = no upper bound) in tid order until fn returns false.
	Iterate(start, stop tid.TID, fn func(TxnRecord) bool) error
}

// RecordIterator is implemented by storages with record_iternext.
type RecordIterator interface {
	// RecordIternext returns the current record of the first oid >= next
	// and the oid after it (ok false at the end).
	RecordIternext(next OID) (oid OID, serial tid.TID, data []byte, nextOID OID, more bool, err error)
}

// InvalidationSource lets the server seed its invalidation queue at start
// (ZODB's lastInvalidations); newest last.
type InvalidationSource interface {
	LastInvalidations(n int) ([]Invalidation, error)
}

// Errors. The server maps them to ZODB.POSException class names.
var (
	ErrReadOnly        = errors.New("storage is read-only")
	ErrBadArgument     = errors.New("bad argument")
	ErrUndoUnsupported = errors.New("undo is not supported by this storage")
	ErrClosed          = errors.New("storage is closed")
)

// POSKeyError: the oid (or the requested revision) does not exist.
type POSKeyError struct {
	OID    OID
	Serial *tid.TID // set for loadSerial misses
}

func (e *POSKeyError) Error() string { return "POSKeyError " + e.OID.String() }

// ConflictError is a write conflict (or, with Read, a readCurrent conflict).
type ConflictError struct {
	OID       OID
	Committed tid.TID // the object's current tid
	Serial    tid.TID // the tid the client based its change on
	ClassName string  // "" when unknown
	Read      bool
	Msg       string // overrides the default message
}

func (e *ConflictError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Read {
		return "database read conflict error"
	}
	return "database conflict error"
}

// UndoError reports an undo that cannot be done.
type UndoError struct {
	Msg string
	OID *OID
}

func (e *UndoError) Error() string { return e.Msg }

// StorageError is a generic storage failure reported to the client as
// ZODB.POSException.StorageError.
type StorageError struct{ Msg string }

func (e *StorageError) Error() string { return e.Msg }

// BlobStorage is implemented by storages with blobs (IBlobStorage). Blob
// uploads are written into TemporaryDirectory, which must be on the same
// filesystem as the blob directory so that files can be renamed into
// place.
type BlobStorage interface {
	TemporaryDirectory() string
	// LoadBlob returns the file holding oid's blob at serial, or
	// *POSKeyError.
	LoadBlob(oid OID, serial tid.TID) (string, error)
	// SharedBlobPath is the directory of oid in the blob tree, where
	// shared-blob-dir clients put their uploads (storeBlobShared).
	SharedBlobPath(oid OID) string
}

// BlobTransaction is implemented by the Transactions of a BlobStorage.
type BlobTransaction interface {
	// StoreBlob stores data like Store and takes ownership of the file
	// at blobPath (it is moved into the blob tree, or removed on abort).
	StoreBlob(oid OID, serial tid.TID, data []byte, blobPath string) error
}

// GroupRecord is one object record of a group-committed transaction.
type GroupRecord struct {
	OID OID
	// Data is the pickle; nil records a deletion (deleteObject).
	Data []byte
}

// GroupCommitter is implemented by storages that commit plain
// transactions (stores, deletions, readCurrent checks; no undo, restore
// or blobs) in groups (docs/design/commit.md): the server checks serials against
// CurrentSerial at vote while it holds per-object locks, and at
// tpc_finish calls CommitGroup, which assigns the tid and writes the
// transaction without making it durable or visible. A committer
// goroutine then calls SyncGroup once for all the transactions committed
// meanwhile and, while it queues their invalidations and replies,
// PublishGroup. Only then are clients told.
//
// The storage's ordinary Begin must wait until everything committed
// through the group is published; the server never runs a plain Begin
// transaction while a group transaction holds object locks.
type GroupCommitter interface {
	// CurrentSerial is the tid of oid's newest record, including
	// transactions committed but not yet published; ok is false when oid
	// has none.
	CurrentSerial(oid OID) (t tid.TID, ok bool, err error)
	// CommitGroup writes a transaction and returns its tid (greater than
	// any before it).
	CommitGroup(meta TxnMeta, recs []GroupRecord) (tid.TID, error)
	// SyncGroup makes every transaction committed so far durable and
	// returns the newest durable tid.
	SyncGroup() (tid.TID, error)
	// PublishGroup makes the durable transactions up to t visible.
	PublishGroup(t tid.TID)
}

// Relayer is implemented by storages whose data also changes outside the
// server serving them: a storage that is itself a client of another ZEO
// server (ZODB's <zeoclient>, ZEO's fan-out), whose other clients commit
// there. ZEO 6 hands such a storage a StorageServerDB through registerDB;
// its invalidate and invalidateCache reach every connected client. Here
// the server calls SetRelay once, before it accepts connections.
type Relayer interface {
	SetRelay(r Relay)
}

// Relay is the server's side of a Relayer.
//
// The server makes committed data visible and tells clients about it
// under one lock per storage, which loads share and which it holds
// exclusively around Transaction.Finish. Publish takes that lock, so a
// Relayer calls it from a goroutine of its own, never from inside a
// method the server is calling; from Transaction.Finish it uses
// PublishInFinish, which relies on the lock Finish runs under. Either
// way invalidations must be passed in tid order, and those older than
// the transaction being finished before Finish returns its tid.
type Relay interface {
	// Publish runs fn holding the lock; fn sends each invalidation with
	// send (to every client, and into the queue getInvalidations answers
	// from).
	Publish(fn func(send func(Invalidation)))
	// PublishInFinish sends inv from inside Transaction.Finish.
	PublishInFinish(inv Invalidation)
	// DropClients closes every client connection of the storage and
	// empties its invalidation queue, so that clients reconnect and
	// revalidate their caches: ZEO 6 StorageServer._invalidateCache,
	// what ClientStorage asks for whenever it (re)connects.
	DropClients()
}
