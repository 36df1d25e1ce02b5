package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A transaction's store data is kept in memory up to
// Options.TxnMemory bytes (and while all transactions together hold
// less than Options.TotalTxnMemory); the rest goes to a temporary file
// until the vote replays it. ZEO 6.0 StorageServer keeps every
// operation of a transaction in a CommitLog, a tempfile.TemporaryFile
// it pickles them into; zdkit keeps small transactions in memory (most
// are) and spools the bytes of large ones, so one client sending
// 1,000 stores of 1 MiB cannot make the server hold a gigabyte.

// Defaults of the transaction buffer limits.
const (
	DefaultTxnMemory      = 16 << 20
	DefaultTotalTxnMemory = 256 << 20
)

// spoolPattern names spool files (os.CreateTemp); each is unlinked as
// soon as it is created, so the space goes back with the descriptor on
// abort, disconnect or a crash. New removes any left by a system that
// cannot unlink an open file.
const spoolPattern = "zeo-txn-*.spool"

// removeStaleSpools deletes spool files left in dir.
func removeStaleSpools(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, n := range names {
		os.Remove(n)
	}
}

// bufferData decides where op's data lives: it counts it against the
// transaction's and the server's limits and writes it to the spool file
// when it does not fit in memory. c.mu is held.
func (c *conn) bufferDataLocked(t *ztxn, op *txnOp) error {
	n := int64(len(op.data))
	if n == 0 {
		return nil
	}
	s := c.srv
	t.size += n
	if max := s.opts.MaxTxnSize; max > 0 && t.size > max {
		return fmt.Errorf("too large: more than %d bytes of data (max-transaction-size)", max)
	}
	if t.memBytes+n <= s.opts.TxnMemory && s.txnMemory.Add(n) <= s.opts.TotalTxnMemory {
		t.memBytes += n
		return nil
	} else if t.memBytes+n <= s.opts.TxnMemory {
		s.txnMemory.Add(-n)
	}
	if t.spool == nil {
		f, err := os.CreateTemp(s.opts.SpoolDir, spoolPattern)
		if err != nil {
			return fmt.Errorf("spooling its stores: %w", err)
		}
		os.Remove(f.Name())
		t.spool = f
	}
	if _, err := t.spool.WriteAt(op.data, t.spoolSize); err != nil {
		return fmt.Errorf("spooling its stores to %s: %w", t.spool.Name(), err)
	}
	op.spoolAt, op.spoolLen = t.spoolSize, int(n)
	op.data = nil
	t.spoolSize += n
	return nil
}

// forgetDataLocked releases what op's data counted in memory (op is
// replaced by a later store of the same object).
func (c *conn) forgetDataLocked(t *ztxn, op *txnOp) {
	if op.spoolLen == 0 && len(op.data) > 0 {
		n := int64(len(op.data))
		t.memBytes -= n
		c.srv.txnMemory.Add(-n)
	}
}

// opData is op's data, read back from the spool file if it was spooled.
func (t *ztxn) opData(op *txnOp) ([]byte, error) {
	if op.spoolLen == 0 {
		return op.data, nil
	}
	b := make([]byte, op.spoolLen)
	if _, err := t.spool.ReadAt(b, op.spoolAt); err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading back spooled store: %w", err)
	}
	return b, nil
}

// releaseBuffer gives back the transaction's memory and spool file
// (finish, abort, disconnect).
func (t *ztxn) releaseBuffer(s *Server) {
	if t.memBytes > 0 {
		s.txnMemory.Add(-t.memBytes)
		t.memBytes = 0
	}
	if t.spool != nil {
		t.spool.Close()
		t.spool = nil
	}
	t.size, t.spoolSize = 0, 0
}
