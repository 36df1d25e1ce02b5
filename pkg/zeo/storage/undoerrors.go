package storage

import "strings"

// MultipleUndoError is ZODB's MultipleUndoErrors: the per-object failures
// of one undo (FileStorage._txn_undo_write raises it). The server sends it
// as ZODB.POSException.MultipleUndoErrors, the one undo failure class ZEO
// 6 clients rebuild as an UndoError for the application.
type MultipleUndoError struct {
	Errs []UndoError // each with OID set
}

func (e *MultipleUndoError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i := range e.Errs {
		msgs[i] = e.Errs[i].Msg
	}
	return strings.Join(msgs, "\n")
}
