package filestorage

import (
	"strings"
)

// MultipleUndoError is ZODB's MultipleUndoErrors: FileStorage's
// _txn_undo_write collects every per-object failure of an undo (an object
// rewritten by the same transaction gets a second chance) and raises them
// together, in the order they were (last) recorded. ZEO sends this class
// to the client, whose exception factories rebuild it; a plain UndoError
// would reach the application as ServerException instead.
type MultipleUndoError struct {
	Errs []*UndoError
}

func (e *MultipleUndoError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, u := range e.Errs {
		msgs[i] = u.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap gives the per-object errors, so errors.As(err, &*UndoError) finds
// the first one and errors.Is(err, ErrUndo) holds.
func (e *MultipleUndoError) Unwrap() []error {
	errs := make([]error, len(e.Errs))
	for i, u := range e.Errs {
		errs[i] = u
	}
	return errs
}
