package filestorage

import (
	"errors"
	"fmt"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Sentinel errors. Callers test them with errors.Is; the values returned
// carry context (file, offset, oid) through wrapping or typed errors.
var (
	// ErrCorrupt is wrapped by every *CorruptError: the file's bytes do
	// not follow the FileStorage format (ZODB's CorruptedError).
	ErrCorrupt = errors.New("filestorage: corrupted data file")
	// ErrPOSKey is ZODB's POSKeyError: the oid is unknown, or the
	// revision asked for has no data (deleted, undone creation).
	ErrPOSKey = errors.New("filestorage: POSKeyError")
	// ErrNoRevisionBefore is loadBefore's "None": the object did not
	// exist before the given tid.
	ErrNoRevisionBefore = errors.New("filestorage: no revision before tid")
	// ErrReadOnly is returned by writes on a read-only storage.
	ErrReadOnly = errors.New("filestorage: read-only storage")
	// ErrLocked means another process (Python or Go) holds Data.fs.lock.
	ErrLocked = errors.New("filestorage: could not lock")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("filestorage: storage is closed")
	// ErrConflict is wrapped by *ConflictError.
	ErrConflict = errors.New("filestorage: conflict")
	// ErrUndo is wrapped by *UndoError (ZODB's UndoError).
	ErrUndo = errors.New("filestorage: undo error")
	// ErrTransaction reports misuse of the two-phase commit (a call out
	// of order, a tid that is not greater than the last one, a string
	// longer than 65535 bytes).
	ErrTransaction = errors.New("filestorage: transaction error")
	// ErrFormat is returned when a file is not a FileStorage at all
	// (bad magic), or uses a feature Go refuses (version records).
	ErrFormat = errors.New("filestorage: unsupported file format")
	// ErrPackInProgress: undoLog and a second pack refuse while packing.
	ErrPackInProgress = errors.New("filestorage: pack in progress")
	// ErrQuota is wrapped by *QuotaError.
	ErrQuota = errors.New("filestorage: quota exceeded")
)

// QuotaError is ZODB's FileStorageQuotaError: a record of the transaction
// would start past the configured quota (ZConfig's quota key). Its text
// is ZODB 6.3's, which ZEO clients show; the fields say where.
type QuotaError struct {
	File  string
	Quota int64 // bytes
	At    int64 // the first record position past it
}

func (e *QuotaError) Error() string { return "The storage quota has been exceeded." }

// Unwrap lets errors.Is(err, ErrQuota) match.
func (e *QuotaError) Unwrap() error { return ErrQuota }

// CorruptError locates damage in a data file: the file, the byte offset
// of the record, the field that is wrong and why. ZODB raises a bare
// CorruptedError with only a position; naming the field saves the user a
// hex dump.
type CorruptError struct {
	File   string
	Offset int64 // offset of the record (transaction or data header)
	Field  string
	Msg    string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: offset %d: %s: %s", e.File, e.Offset, e.Field, e.Msg)
}

func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// ConflictError is ZODB's ConflictError for a store whose expected serial
// is not the committed one. A ZEO server turns it into the conflict dict
// {oid, serials: (Committed, Expected), data}.
type ConflictError struct {
	Oid       Oid
	Committed tid.TID // the serial currently committed
	Expected  tid.TID // the serial the client based its change on
	Data      []byte  // the data the client tried to store (for resolution)
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("database conflict error (oid %s, class unknown, serial this txn started with %s, serial currently committed %s)",
		e.Oid.Repr(), e.Expected.Repr(), e.Committed.Repr())
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// KeyError is a POSKeyError for one oid; Deleted tells an object whose
// current (or requested) revision has no data from an unknown oid.
type KeyError struct {
	Oid     Oid
	Deleted bool
}

func (e *KeyError) Error() string {
	if e.Deleted {
		return fmt.Sprintf("POSKeyError: %s (no data: deleted or creation undone)", e.Oid.Repr())
	}
	return fmt.Sprintf("POSKeyError: %s", e.Oid.Repr())
}

func (e *KeyError) Unwrap() error { return ErrPOSKey }

// UndoError is ZODB's UndoError, naming the oid when there is one.
type UndoError struct {
	Oid    Oid
	HasOid bool
	Msg    string
}

func (e *UndoError) Error() string {
	if e.HasOid {
		return fmt.Sprintf("undo error: %s (oid %s)", e.Msg, e.Oid.Repr())
	}
	return "undo error: " + e.Msg
}

func (e *UndoError) Unwrap() error { return ErrUndo }
