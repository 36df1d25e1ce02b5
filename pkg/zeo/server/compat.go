package server

import (
	"time"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// ClassMultipleUndoErrors is what a failed undo of FileStorage raises. ZEO
// 6 clients rebuild only this undo class (create_MultipleUndoErrors in
// ZEO/asyncio/client.py); any other reaches the application as
// ServerException, which `except UndoError` does not catch.
const ClassMultipleUndoErrors = "ZODB.POSException.MultipleUndoErrors"

// undoErrorPickled is a ZODB UndoError(reason, oid) instance as ZEO's
// pickler writes it: POSError.__reduce__ gives
// (_recon, (UndoError, {**__dict__, 'args': args})), so the client (its
// find_global accepts exception classes and _recon, which is marked
// __no_side_effects__) rebuilds a real UndoError.
func undoErrorPickled(e *storage.UndoError) wire.Reduce {
	oid := undoOID(e)
	return wire.Reduce{
		Func: wire.ClassRef{Module: "ZODB.POSException", Name: "_recon"},
		Args: wire.Tuple{
			wire.ClassRef{Module: "ZODB.POSException", Name: "UndoError"},
			wire.NewDict("_reason", e.Msg, "_oid", oid, "args", wire.Tuple{e.Msg, oid}),
		},
	}
}

// undoErrorMsgpack is the same instance through ZEO's msgpack
// server_default, reduce_exception: (dotted class, __dict__).
func undoErrorMsgpack(e *storage.UndoError) wire.Tuple {
	return wire.Tuple{ClassUndoError, wire.NewDict("_reason", e.Msg, "_oid", undoOID(e))}
}

func undoOID(e *storage.UndoError) any {
	if e.OID == nil {
		return nil
	}
	return e.OID.Bytes()
}

// multipleUndoRemote mirrors reduce_exception(MultipleUndoErrors(errs)):
// its __dict__, which (as MultipleUndoErrors.__init__ calls
// UndoError.__init__(self, *errs[0])) holds the first oid as '_reason',
// the first UndoError as '_oid', then '_errs', the (oid, UndoError) pairs
// the client's factory reads.
func multipleUndoRemote(m *storage.MultipleUndoError) *RemoteError {
	info := func(undoErr func(*storage.UndoError) any) *wire.Dict {
		errs := make(wire.List, len(m.Errs))
		for i := range m.Errs {
			errs[i] = wire.Tuple{undoOID(&m.Errs[i]), undoErr(&m.Errs[i])}
		}
		var reason, first any
		if len(errs) > 0 {
			p := errs[0].(wire.Tuple)
			reason, first = p[0], p[1]
		}
		return wire.NewDict("_reason", reason, "_oid", first, "_errs", errs)
	}
	return &RemoteError{
		Class:       ClassMultipleUndoErrors,
		Info:        info(func(e *storage.UndoError) any { return undoErrorPickled(e) }),
		MsgpackInfo: info(func(e *storage.UndoError) any { return undoErrorMsgpack(e) }),
	}
}

// timeoutText is the transaction timeout as the log line shows it.
func (s *Server) timeoutText(d time.Duration) string {
	if s.opts.TransactionTimeoutText != "" {
		return s.opts.TransactionTimeoutText
	}
	return fmtSeconds(d)
}

// PyFloatRepr is Python's repr(float) (shortest round-tripping digits,
// positional with ".0" for exponents -4..15, else e+XX/e-XX), for log
// lines Python formats with %s of a float such as runzeo -t's timeout.
func PyFloatRepr(f float64) string { return pyrepr.Float(f) }

// useConfigOrder replaces the sorted storage names by order when order is
// a permutation of them.
func (s *Server) useConfigOrder(order []string) {
	if len(order) != len(s.names) {
		return
	}
	seen := make(map[string]bool, len(order))
	for _, n := range order {
		if s.stores[n] == nil || seen[n] {
			return
		}
		seen[n] = true
	}
	s.names = append(s.names[:0], order...)
}

// attachStorageLogs gives storages that log (storage.Logging) the
// server's log hook, in storage order, so that e.g. FileStorage's
// "Ignoring index for PATH" appears in runzeo's log as in Python.
func (s *Server) attachStorageLogs() {
	if s.opts.Log == nil {
		return
	}
	for _, n := range s.names {
		if lg, ok := s.stores[n].st.(storage.Logging); ok {
			lg.SetLog(func(level int, name, msg string) { s.log.f(Level(level), name, msg) })
		}
	}
}
