package fsstorage

import (
	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// multipleUndoError keeps every per-object failure of an undo, so the
// server can send ZODB's MultipleUndoErrors as Python's FileStorage does.
func multipleUndoError(e *filestorage.MultipleUndoError) error {
	out := &storage.MultipleUndoError{Errs: make([]storage.UndoError, 0, len(e.Errs))}
	for _, u := range e.Errs {
		o := storage.OID(u.Oid)
		out.Errs = append(out.Errs, storage.UndoError{Msg: u.Msg, OID: &o})
	}
	return out
}
