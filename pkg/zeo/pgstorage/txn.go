package pgstorage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"

	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// record is one object written by a transaction: the serial the client
// based it on and the new state (nil for a deletion).
type record struct {
	serial  tid.TID
	data    []byte
	deleted bool
}

type txn struct {
	s       *Storage
	meta    storage.TxnMeta
	ext     []byte
	order   []storage.OID // first store order
	recs    map[storage.OID]*record
	reads   map[storage.OID]tid.TID // readCurrent
	conn    *pgx.Conn               // set once the database transaction began
	prior   []storage.Invalidation
	release func()
}

var (
	_ storage.Transaction  = (*txn)(nil)
	_ storage.PriorCommits = (*txn)(nil)
)

// Begin starts a storage transaction. Nothing reaches the database
// before Vote: the server calls Begin, replays the client's operations
// and votes in one go, under its own commit lock.
func (s *Storage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	if s.opts.ReadOnly {
		return nil, storage.ErrReadOnly
	}
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	if meta.TID != 0 {
		return nil, &storage.StorageError{Msg: "restoring transactions with given tids (copyTransactionsFrom) is not supported yet on PostgreSQL"}
	}
	ext, err := storage.PickleExtension(meta.Extension)
	if err != nil {
		return nil, err
	}
	s.commitMu.Lock()
	return &txn{s: s, meta: meta, ext: ext, recs: map[storage.OID]*record{},
		release: sync.OnceFunc(s.commitMu.Unlock)}, nil
}

func (t *txn) put(oid storage.OID, r *record) {
	if _, ok := t.recs[oid]; !ok {
		t.order = append(t.order, oid)
	}
	t.recs[oid] = r
}

// Store buffers a new revision; its conflict check happens at Vote,
// with the object locked.
func (t *txn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	if data == nil {
		data = []byte{}
	}
	t.put(oid, &record{serial: serial, data: data})
	return nil
}

// Delete records a deletion as RelStorage 4.0 does: a revision without
// state.
func (t *txn) Delete(oid storage.OID, serial tid.TID) error {
	t.put(oid, &record{serial: serial, deleted: true})
	return nil
}

// CheckCurrent buffers a readCurrent check, done at Vote under a shared
// object lock.
func (t *txn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	if t.reads == nil {
		t.reads = map[storage.OID]tid.TID{}
	}
	t.reads[oid] = serial
	return nil
}

func (t *txn) Restore(oid storage.OID, serial tid.TID, data []byte, prevTxn tid.TID) error {
	return &storage.StorageError{Msg: "restore is not supported yet on PostgreSQL"}
}

func (t *txn) Undo(undoID []byte) ([]storage.OID, error) {
	return nil, storage.ErrUndoUnsupported
}

// storeConn returns the commit session, connecting it (with its
// temporary tables and lock timeout) when there is none or it broke.
func (s *Storage) storeConn(ctx context.Context) (*pgx.Conn, error) {
	if s.store != nil && !s.store.IsClosed() {
		return s.store, nil
	}
	s.store = nil
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	stmts := append([]string{fmt.Sprintf("SET lock_timeout = %d", s.opts.CommitLockTimeout.Milliseconds())}, sessionDDL...)
	for _, stmt := range stmts {
		if _, err := conn.Exec(cctx, stmt); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	s.store = conn
	return conn, nil
}

// truncateEvery is how many votes pass between truncations of the
// session's temporary tables.
const truncateEvery = 1000

// rollback ends the database transaction; a session that cannot roll
// back is closed, which makes the server roll back and free its locks.
func (t *txn) rollback() {
	if t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.conn.Close(context.Background())
		t.s.store = nil
	}
	t.conn = nil
}

// Vote writes the states into temp_store, raises zoid_seq past new
// oids, and locks the objects, returning the conflicts (RelStorage 4.2
// storage/tpc/vote.py, one round trip). The object locks stay held
// until Finish or Abort.
func (t *txn) Vote() error {
	ctx := t.s.ctx
	conn, err := t.s.storeConn(ctx)
	if err != nil {
		return convErr("vote (connecting)", err)
	}
	n := len(t.order)
	zoids := make([]int64, 0, n)
	prevs := make([]int64, 0, n)
	sums := make([]*string, 0, n)
	states := make([][]byte, 0, n)
	var maxNew int64
	for _, oid := range t.order {
		r := t.recs[oid]
		zoids = append(zoids, int64(oid))
		prevs = append(prevs, int64(r.serial))
		var sum *string
		if t.s.hp && !r.deleted {
			h := md5.Sum(r.data)
			x := hex.EncodeToString(h[:])
			sum = &x
		}
		sums = append(sums, sum)
		states = append(states, r.data)
		if r.serial == 0 && int64(oid) > maxNew {
			maxNew = int64(oid)
		}
	}
	var rcOids, rcTids []int64
	for oid, serial := range t.reads {
		if _, stored := t.recs[oid]; stored {
			continue // the store's own check covers it
		}
		rcOids = append(rcOids, int64(oid))
		rcTids = append(rcTids, int64(serial))
	}
	if t.s.votes++; t.s.votes%truncateEvery == 0 {
		// Dead rows of the deletes below: give the space back now and then.
		if _, err := conn.Exec(ctx, `TRUNCATE temp_store, temp_store_replacements, temp_blob_chunk`); err != nil && !sessionLost(err) {
			return convErr("vote (truncating temporary tables)", err)
		}
	}
	// The batch is built anew for each try: pgx keeps, in a queued
	// query, the statement description it prepared on the session it
	// was first sent on, which a new session does not have (SQLSTATE
	// 26000 on the retry after a failover).
	newBatch := func() *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// The rows of the previous transaction on this session (committed,
		// or restored by a rollback): see sessionDDL.
		b.Queue(`DELETE FROM temp_store`)
		b.Queue(`DELETE FROM temp_blob_chunk`)
		if n > 0 {
			b.Queue(`INSERT INTO temp_store (zoid, prev_tid, md5, state)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[])`, zoids, prevs, sums, states)
		}
		if maxNew > 0 {
			// RelStorage's set_min_oid: oids allocated elsewhere (a restore)
			// must never be handed out again.
			b.Queue(`SELECT setval('zoid_seq', $1) FROM zoid_seq WHERE last_value < $1`, (maxNew+15)/16)
		}
		b.Queue(`SELECT zoid, tid, prev_tid, committed_state FROM lock_objects_and_detect_conflicts($1, $2)`, rcOids, rcTids)
		return b
	}
	type conflictRow struct {
		zoid, tid int64
		prev      *int64
		state     []byte
	}
	var found []conflictRow
	run := func(conn *pgx.Conn) error {
		b := newBatch()
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		for i := 0; i < b.Len()-1; i++ {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			var c conflictRow
			if err := rows.Scan(&c.zoid, &c.tid, &c.prev, &c.state); err != nil {
				return err
			}
			found = append(found, c)
		}
		return rows.Err()
	}
	t.conn = conn
	err = run(conn)
	if sessionLost(err) && ctx.Err() == nil {
		// The session broke (the database restarted, a failover): its
		// transaction is gone with it, so vote again on a new one. A
		// session to a primary that died may also answer with SQLSTATE
		// 57P01 (its backend saw the postmaster exit), an error from the
		// server that is still a lost session: the first vote after a
		// Patroni failover meets it.
		conn.Close(context.Background())
		t.s.store, t.conn = nil, nil
		if conn, err = t.s.storeConn(ctx); err != nil {
			return convErr("vote (reconnecting)", err)
		}
		found = nil
		t.conn = conn
		err = run(conn)
	}
	if err != nil {
		return t.lockError(err, rcOids)
	}
	var conflicts []storage.ConflictError
	for _, c := range found {
		oid := storage.OID(c.zoid)
		if c.prev == nil {
			return &storage.ConflictError{OID: oid, Committed: tid.TID(c.tid), Serial: t.reads[oid], Read: true}
		}
		ce := storage.ConflictError{OID: oid, Committed: tid.TID(c.tid), Serial: tid.TID(*c.prev)}
		if r := t.recs[oid]; r != nil && r.deleted {
			return &ce // a deletion has no state to resolve
		}
		conflicts = append(conflicts, ce)
	}
	if len(conflicts) > 0 {
		return &storage.VoteConflicts{Conflicts: conflicts}
	}
	return nil
}

// lockError translates a failure of the vote's statements.
func (t *txn) lockError(err error, rcOids []int64) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "55P03" && pe.Hint == "readCurrent":
			// A readCurrent object is being changed by another transaction
			// (RelStorage: ReadConflictError; which one is unknown).
			ce := &storage.ConflictError{Read: true}
			if len(rcOids) > 0 {
				ce.OID = storage.OID(rcOids[0])
			}
			return ce
		case pe.Code == "55P03":
			// lock_timeout: RelStorage's UnableToLockRowsToModifyError, a
			// ConflictError the client may retry.
			return &storage.ConflictError{Msg: fmt.Sprintf("could not lock the objects to modify within commit-lock-timeout (%s): %s", t.s.opts.CommitLockTimeout, pe.Message)}
		case pe.Code == "40P01":
			return &storage.ConflictError{Msg: "deadlock detected while locking objects: " + pe.Message}
		}
	}
	return convErr("vote", err)
}

// Finish chooses the tid under the commit lock, moves the rows, NOTIFYs
// the other front ends and commits, in one round trip; then it collects
// the commits made elsewhere below the new tid that were not delivered.
func (t *txn) Finish() (tid.TID, error) {
	defer t.release()
	if t.conn == nil {
		return 0, &storage.StorageError{Msg: "tpc_finish without a successful vote"}
	}
	ctx := t.s.ctx
	b := &pgx.Batch{}
	if t.s.hp {
		user, desc := t.meta.User, t.meta.Description
		if user == nil {
			user = []byte{}
		}
		if desc == nil {
			desc = []byte{}
		}
		b.Queue(`SELECT set_config('zdkit.tid', lock_and_choose_tid_and_move(NULL, TRUE, $1, $2, $3)::text, TRUE)::bigint`,
			user, desc, t.ext)
	} else {
		b.Queue(`SELECT set_config('zdkit.tid', lock_and_choose_tid_and_move(NULL, TRUE)::text, TRUE)::bigint`)
	}
	b.Queue(`SELECT pg_notify('` + notifyChannel + `', current_setting('zdkit.tid'))`)
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	var newTid int64
	err := br.QueryRow().Scan(&newTid)
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.rollback()
		return 0, convErr("tpc_finish", err)
	}
	conn := t.conn
	t.conn = nil
	for oid, r := range t.recs {
		if !r.deleted {
			t.s.revs.put(oid, tid.TID(newTid), r.data)
		}
	}
	t.prior = t.s.deliverUpTo(conn, tid.TID(newTid))
	return tid.TID(newTid), nil
}

// PriorCommits: see storage.PriorCommits.
func (t *txn) PriorCommits() []storage.Invalidation { return t.prior }

// Abort rolls back, which frees the object locks.
func (t *txn) Abort() {
	t.rollback()
	t.release()
}

// deliverUpTo reads, on the session that just committed t, the commits
// made elsewhere between the last delivered tid and t, and counts
// everything up to t as delivered.
func (s *Storage) deliverUpTo(conn *pgx.Conn, t tid.TID) []storage.Invalidation {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	last := tid.TID(s.lastDelivered.Load())
	var out []storage.Invalidation
	if t > last+1 {
		var err error
		for try := 0; try < 3; try++ {
			out, err = s.readCommits(s.ctx, conn, last, t)
			if err == nil {
				break
			}
		}
		if err != nil {
			// Nothing better is possible: the tids below t cannot be
			// published after t. Clients that miss them keep stale cache
			// entries until their next verification.
			out = nil
		}
	}
	if t > last {
		s.lastDelivered.Store(uint64(t))
	}
	return out
}

// querier is what readCommits needs of a connection or pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readCommits lists the transactions with after < tid < before (before
// 0: no bound), grouped by tid in order. History-free databases keep
// only current rows, so a transaction whose objects were all rewritten
// since is merged into the later one; that is what its clients need.
func (s *Storage) readCommits(ctx context.Context, q querier, after, before tid.TID) ([]storage.Invalidation, error) {
	sql := `SELECT tid, zoid FROM object_state WHERE tid > $1 ORDER BY tid, zoid`
	args := []any{int64(after)}
	if before != 0 {
		sql = `SELECT tid, zoid FROM object_state WHERE tid > $1 AND tid < $2 ORDER BY tid, zoid`
		args = append(args, int64(before))
	}
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Invalidation
	for rows.Next() {
		var t, z int64
		if err := rows.Scan(&t, &z); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].TID != tid.TID(t) {
			out = append(out, storage.Invalidation{TID: tid.TID(t)})
		}
		last := &out[len(out)-1]
		last.OIDs = append(last.OIDs, storage.OID(z))
	}
	return out, rows.Err()
}

// PollCommits: see storage.CommitFeed.
func (s *Storage) PollCommits() ([]storage.Invalidation, error) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	last := tid.TID(s.lastDelivered.Load())
	var out []storage.Invalidation
	err := s.retry(func() error {
		var err error
		out, err = s.readCommits(s.ctx, s.pool, last, 0)
		return err
	})
	if err != nil {
		return nil, convErr("poll", err)
	}
	if len(out) > 0 {
		s.lastDelivered.Store(uint64(out[len(out)-1].TID))
	}
	return out, nil
}

// WatchCommits: see storage.CommitFeed.
func (s *Storage) WatchCommits(wake func()) { s.wake.Store(&wake) }

func (s *Storage) signal() {
	if f := s.wake.Load(); f != nil {
		(*f)()
	}
}

// LastInvalidations seeds the server's queue with the newest n
// transactions up to the last delivered tid.
func (s *Storage) LastInvalidations(n int) ([]storage.Invalidation, error) {
	const maxRows = 10000
	rows, err := s.pool.Query(s.ctx, `SELECT tid, zoid FROM object_state WHERE tid <= $1
		ORDER BY tid DESC, zoid LIMIT $2`, int64(s.lastDelivered.Load()), maxRows)
	if err != nil {
		return nil, convErr("reading the last transactions", err)
	}
	defer rows.Close()
	var desc []storage.Invalidation
	count := 0
	for rows.Next() {
		var t, z int64
		if err := rows.Scan(&t, &z); err != nil {
			return nil, convErr("reading the last transactions", err)
		}
		count++
		if len(desc) == 0 || desc[len(desc)-1].TID != tid.TID(t) {
			desc = append(desc, storage.Invalidation{TID: tid.TID(t)})
		}
		last := &desc[len(desc)-1]
		last.OIDs = append(last.OIDs, storage.OID(z))
	}
	if err := rows.Err(); err != nil {
		return nil, convErr("reading the last transactions", err)
	}
	if count == maxRows && len(desc) > 0 {
		desc = desc[:len(desc)-1] // possibly cut short
	}
	if len(desc) > n {
		desc = desc[:n]
	}
	out := make([]storage.Invalidation, len(desc))
	for i := range desc {
		out[len(desc)-1-i] = desc[i]
	}
	return out, nil
}

// listen keeps a LISTEN session and wakes the server on each NOTIFY
// and every poll interval (for committers that send none); it
// reconnects with a growing pause when the database goes away.
func (s *Storage) listen() {
	defer s.wg.Done()
	ctx := s.ctx
	backoff := 100 * time.Millisecond
	statsEvery := 10 * time.Second
	nextStats := time.Now().Add(statsEvery)
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
			if err != nil {
				conn.Close(context.Background())
			}
		}
		if err != nil {
			s.health.noteDown(err)
			s.signal() // keep polling through the pool meanwhile
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			// At most a second: a Patroni failover takes a few, and this
			// session is what reports the new primary (failover.go).
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.health.noteUp(conn)
		s.signal() // catch up on what happened while not listening
		for {
			wctx, cancel := context.WithTimeout(ctx, s.opts.PollInterval)
			err := conn.PgConn().WaitForNotification(wctx)
			cancel()
			if time.Now().After(nextStats) {
				s.refreshStats(ctx)
				nextStats = time.Now().Add(statsEvery)
			}
			if err == nil || (ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded)) || pgconn.Timeout(err) && ctx.Err() == nil {
				s.signal()
				if !conn.IsClosed() {
					continue
				}
			}
			conn.Close(context.Background())
			s.health.noteDown(err)
			break
		}
	}
}
