package server

import (
	"errors"
	"fmt"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Exception class names as the client's exception factories expect them
// (ZEO 6.0 ZEO/asyncio/client.py, exc_factories; docs/design/wire-protocol.md).
// A wrong name or shape makes the client hang.
const (
	ClassPOSKeyError             = "ZODB.POSException.POSKeyError"
	ClassReadOnlyError           = "ZODB.POSException.ReadOnlyError"
	ClassStorageTransactionError = "ZODB.POSException.StorageTransactionError"
	ClassConflictError           = "ZODB.POSException.ConflictError"
	ClassReadConflictError       = "ZODB.POSException.ReadConflictError"
	ClassUndoError               = "ZODB.POSException.UndoError"
	ClassStorageError            = "ZODB.POSException.StorageError"
	ClassValueError              = "builtins.ValueError"
	ClassKeyError                = "builtins.KeyError"
	ClassTypeError               = "builtins.TypeError"
	ClassException               = "builtins.Exception"
)

// RemoteError is an exception reply: the dotted class name and the info
// (an args Tuple or an attribute *Dict).
type RemoteError struct {
	Class string
	Info  any
	// MsgpackInfo, when set, replaces Info on a msgpack connection: ZEO
	// pickles exception instances inside the info whole but sends them
	// through msgpack as reduce_exception tuples.
	MsgpackInfo any
}

func (e *RemoteError) Error() string { return e.Class + ": " + wire.Repr(e.Info) }

func remote(class string, args ...any) *RemoteError {
	if args == nil {
		args = []any{}
	}
	return &RemoteError{Class: class, Info: wire.Tuple(args)}
}

func valueError(format string, a ...any) *RemoteError {
	return remote(ClassValueError, fmt.Sprintf(format, a...))
}

// conflictInfo is the dict form ConflictError / ReadConflictError must
// take; with an args tuple the client's factory fails and the caller hangs.
func conflictInfo(e *storage.ConflictError) *wire.Dict {
	var className any
	if e.ClassName != "" {
		className = e.ClassName
	}
	return wire.NewDict(
		"message", e.Error(),
		"oid", e.OID.Bytes(),
		"class_name", className,
		"serials", wire.Tuple{storage.TIDBytes(e.Committed), storage.TIDBytes(e.Serial)},
	)
}

// toRemote maps a storage or server error to the exception reply.
func toRemote(err error) *RemoteError {
	var re *RemoteError
	var pk *storage.POSKeyError
	var ce *storage.ConflictError
	var ue *storage.UndoError
	var se *storage.StorageError
	var mue *storage.MultipleUndoError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &mue):
		return multipleUndoRemote(mue)
	case errors.As(err, &pk):
		return remote(ClassPOSKeyError, pk.OID.Bytes())
	case errors.As(err, &ce):
		cls := ClassConflictError
		if ce.Read {
			cls = ClassReadConflictError
		}
		return &RemoteError{Class: cls, Info: conflictInfo(ce)}
	case errors.Is(err, storage.ErrReadOnly):
		return remote(ClassReadOnlyError)
	case errors.As(err, &ue):
		// UndoError keeps its reason and oid in __dict__, so ZEO sends the
		// dict; the client raises ServerException either way.
		var oid any
		if ue.OID != nil {
			oid = ue.OID.Bytes()
		}
		return &RemoteError{Class: ClassUndoError, Info: wire.NewDict("_reason", ue.Msg, "_oid", oid)}
	case errors.Is(err, storage.ErrUndoUnsupported):
		return &RemoteError{Class: ClassUndoError, Info: wire.NewDict("_reason", err.Error(), "_oid", nil)}
	case errors.Is(err, storage.ErrBadArgument):
		return remote(ClassValueError, err.Error())
	case errors.As(err, &se):
		return remote(ClassStorageError, se.Msg)
	}
	return remote(ClassStorageError, err.Error())
}
