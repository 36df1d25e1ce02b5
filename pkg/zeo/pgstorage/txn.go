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
	undo    bool // staged by Undo: a conflict cannot be resolved by the client
}

type txn struct {
	s       *Storage
	meta    storage.TxnMeta
	ext     []byte
	order   []storage.OID // first store order
	recs    map[storage.OID]*record
	reads   map[storage.OID]tid.TID // readCurrent
	sess    *session                // the store session of this transaction
	conn    *pgx.Conn               // set once the database transaction began
	prior   []storage.Invalidation
	release func()

	blobs      *BlobStorage           // nil without blobs
	blobFiles  map[storage.OID]string // uploads taken by StoreBlob
	undoChunks map[storage.OID]uint32 // blobs an undo brings back (shared large objects)
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
	ext, err := storage.PickleExtension(meta.Extension)
	if err != nil {
		return nil, err
	}
	ss := s.takeSession()
	t := &txn{s: s, sess: ss, meta: meta, ext: ext, recs: map[storage.OID]*record{}}
	t.release = sync.OnceFunc(func() { s.giveSession(ss) })
	return t, nil
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

// Restore copies a record with the transaction's given tid
// (copyTransactionsFrom, zodbconvert): no conflict check; data nil with
// prevTxn is a backpointer to that transaction's state of oid.
func (t *txn) Restore(oid storage.OID, serial tid.TID, data []byte, prevTxn tid.TID) error {
	if t.meta.TID == 0 {
		return &storage.StorageError{Msg: "restore in a transaction without a given tid"}
	}
	if data == nil && prevTxn != 0 {
		d, err := t.s.LoadSerial(oid, prevTxn)
		if err != nil {
			return err
		}
		data = d
	}
	t.put(oid, &record{serial: serial, data: data, deleted: data == nil})
	return nil
}

// session is one store connection with its temporary tables.
type session struct {
	conn  *pgx.Conn // nil until first used, or after it broke
	votes int       // rows and votes since its temporary tables were truncated
}

func (ss *session) close() {
	if ss.conn != nil {
		ss.conn.Close(context.Background())
		ss.conn = nil
	}
}

// ConcurrentCommits: see storage.ConcurrentCommitter. Object locks are
// PostgreSQL's, shared with every other process on the database.
func (s *Storage) ConcurrentCommits() {}

// takeSession waits for a free slot and returns an idle session or a
// new (unconnected) one.
func (s *Storage) takeSession() *session {
	s.slots <- struct{}{}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if n := len(s.idle); n > 0 {
		ss := s.idle[n-1]
		s.idle = s.idle[:n-1]
		return ss
	}
	return &session{}
}

func (s *Storage) giveSession(ss *session) {
	s.sessMu.Lock()
	if s.closed.Load() {
		ss.close()
	} else {
		s.idle = append(s.idle, ss)
	}
	s.sessMu.Unlock()
	<-s.slots
}

// storeConn returns the session's connection, connecting it (with its
// temporary tables and lock timeout) when there is none or it broke.
func (s *Storage) storeConn(ctx context.Context, ss *session) (*pgx.Conn, error) {
	if ss.conn != nil && !ss.conn.IsClosed() {
		return ss.conn, nil
	}
	ss.close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, s.connConfig("store"))
	if err != nil {
		return nil, err
	}
	stmts := append([]string{fmt.Sprintf("SET lock_timeout = %d", s.opts.CommitLockTimeout.Milliseconds())}, storeSessionSettings...)
	stmts = append(stmts, sessionDDL...)
	for _, stmt := range stmts {
		if _, err := conn.Exec(cctx, stmt); err != nil {
			conn.Close(context.Background())
			return nil, err
		}
	}
	ss.conn, ss.votes = conn, 0
	return conn, nil
}

// truncateEvery bounds the rows (plus one per vote) a session writes
// into its temporary tables between truncations: the deletes leave dead
// rows that nothing vacuums, and every later vote scans them and plans
// its joins for that many rows (see storeSessionSettings).
const truncateEvery = 2000

// rollback ends the database transaction; a session that cannot roll
// back is closed, which makes the server roll back and free its locks.
func (t *txn) rollback() {
	if t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := t.conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.sess.close()
	}
	t.conn = nil
}

// Vote writes the states into temp_store, raises zoid_seq past new
// oids, and locks the objects, returning the conflicts (RelStorage 4.2
// storage/tpc/vote.py, one round trip). The object locks stay held
// until Finish or Abort.
func (t *txn) Vote() error {
	ctx := t.s.ctx
	conn, err := t.s.storeConn(ctx, t.sess)
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
		if (r.serial == 0 || t.meta.TID != 0) && int64(oid) > maxNew {
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
	if t.sess.votes += 1 + n; t.sess.votes >= truncateEvery {
		t.sess.votes = 0
		// Dead rows of the deletes below: give the space back now and then.
		if _, err := conn.Exec(ctx, `TRUNCATE temp_store, temp_store_replacements, temp_blob_chunk`); err != nil && !sessionLost(err) {
			return convErr("vote (truncating temporary tables)", err)
		}
	}
	// A batch is bound to the connection it ran on (its prepared
	// statements), so a retry on a new session builds a new one.
	newBatch := func() *pgx.Batch {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		// The rows of the previous transaction on this session
		// (committed, or restored by a rollback): see sessionDDL.
		b.Queue(`DELETE FROM temp_store`)
		b.Queue(`DELETE FROM temp_blob_chunk`)
		return b
	}
	if t.meta.TID != 0 {
		return t.voteRestore(ctx, conn, newBatch(), zoids, sums, states, maxNew)
	}
	type conflictRow struct {
		zoid, tid int64
		prev      *int64
		state     []byte
	}
	var found []conflictRow
	run := func(conn *pgx.Conn) error {
		b := newBatch()
		if n > 0 {
			b.Queue(`INSERT INTO temp_store (zoid, prev_tid, md5, state)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[])`, zoids, prevs, sums, states)
		}
		if maxNew > 0 {
			// RelStorage's set_min_oid: oids allocated elsewhere (a
			// restore) must never be handed out again.
			b.Queue(`SELECT setval('zoid_seq', $1) FROM zoid_seq WHERE last_value < $1`, (maxNew+15)/16)
		}
		b.Queue(`SELECT zoid, tid, prev_tid, committed_state FROM lock_objects_and_detect_conflicts($1, $2)`, rcOids, rcTids)
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
		// transaction is gone with it, so vote again on a new one.
		t.sess.close()
		t.conn = nil
		if conn, err = t.s.storeConn(ctx, t.sess); err != nil {
			return convErr("vote (reconnecting)", err)
		}
		found = nil
		t.conn = conn
		err = run(conn)
	}
	if err != nil {
		return t.lockError(err, rcOids)
	}
	if len(found) == 0 && len(t.blobFiles) > 0 {
		if err := t.uploadBlobs(ctx, t.conn); err != nil {
			return convErr("vote", err)
		}
	}
	if len(found) == 0 {
		for oid, lo := range t.undoChunks {
			if _, err := t.conn.Exec(ctx, `INSERT INTO temp_blob_chunk (zoid, chunk_num, chunk) VALUES ($1, 0, $2)`, int64(oid), lo); err != nil {
				return convErr("vote", err)
			}
		}
	}
	var conflicts []storage.ConflictError
	for _, c := range found {
		oid := storage.OID(c.zoid)
		if c.prev == nil {
			return &storage.ConflictError{OID: oid, Committed: tid.TID(c.tid), Serial: t.reads[oid], Read: true}
		}
		ce := storage.ConflictError{OID: oid, Committed: tid.TID(c.tid), Serial: tid.TID(*c.prev)}
		if r := t.recs[oid]; r != nil && (r.deleted || r.undo) {
			return &ce // no state of the client's to resolve
		}
		conflicts = append(conflicts, ce)
	}
	if len(conflicts) > 0 {
		return &storage.VoteConflicts{Conflicts: conflicts}
	}
	return nil
}

// voteRestore is the vote of a transaction with a given tid (RelStorage
// 4.2 storage/tpc/restore.py): it refuses a tid that is not newer than
// every committed one (checked again under lock -1 at finish), and
// writes the transaction row (history-preserving) and the states, each
// based on the object's current tid.
func (t *txn) voteRestore(ctx context.Context, conn *pgx.Conn, b *pgx.Batch, zoids []int64, sums []*string, states [][]byte, maxNew int64) error {
	current, last := "object_state", "object_state"
	if t.s.hp {
		current, last = "current_object", `"transaction"`
	}
	// RelStorage's restore path locks this row (until finish), so two
	// restores exclude each other; lock -1 is taken at finish, as every
	// commit does, so a restore never holds it while waiting for its
	// client.
	b.Queue(`SELECT tid FROM commit_row_lock FOR UPDATE`)
	b.Queue(`SELECT COALESCE(MAX(tid), 0) FROM ` + last)
	b.Queue(`INSERT INTO temp_store (zoid, prev_tid, md5, state)
		SELECT u.zoid, COALESCE(c.tid, 0), u.md5, u.state
		FROM unnest($1::bigint[], $2::text[], $3::bytea[]) AS u(zoid, md5, state)
		LEFT JOIN `+current+` c ON c.zoid = u.zoid`, zoids, sums, states)
	if maxNew > 0 {
		b.Queue(`SELECT setval('zoid_seq', $1) FROM zoid_seq WHERE last_value < $1`, (maxNew+15)/16)
	}
	if t.s.hp {
		user, desc := t.userDesc()
		b.Queue(`INSERT INTO "transaction" (tid, packed, username, description, extension) VALUES ($1, $2, $3, $4, $5)`,
			int64(t.meta.TID), t.meta.Status == 'p', user, desc, t.ext)
	}
	t.conn = conn
	br := conn.SendBatch(ctx, b)
	err := func() error {
		defer br.Close()
		for i := 0; i < 3; i++ { // BEGIN, the two deletes
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var lockedRow int64
		if err := br.QueryRow().Scan(&lockedRow); err != nil {
			return err
		}
		var newest int64
		if err := br.QueryRow().Scan(&newest); err != nil {
			return err
		}
		if newest >= int64(t.meta.TID) {
			return &storage.StorageError{Msg: fmt.Sprintf("restore: tid %s is not newer than the last transaction %s", t.meta.TID, tid.TID(newest))}
		}
		for i := 5; i < b.Len(); i++ {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		return nil
	}()
	if err == nil && len(t.blobFiles) > 0 {
		err = t.uploadBlobs(ctx, conn)
	}
	var se *storage.StorageError
	if errors.As(err, &se) {
		return se
	}
	return convErr("vote (restore)", err)
}

// lockForRestore takes the commit lock for a transaction with a given
// tid (lock_and_choose_tid_and_move takes it only when it chooses the
// tid) and checks, under it, that the tid is still the newest.
func (t *txn) lockForRestore(ctx context.Context) error {
	last := "object_state"
	if t.s.hp {
		last = `"transaction"`
	}
	if _, err := t.conn.Exec(ctx, `SELECT pg_advisory_xact_lock(-1)`); err != nil {
		return convErr("tpc_finish (restore)", err)
	}
	var newest int64
	if err := t.conn.QueryRow(ctx, `SELECT COALESCE(MAX(tid), 0) FROM `+last+` WHERE tid <> $1`, int64(t.meta.TID)).Scan(&newest); err != nil {
		return convErr("tpc_finish (restore)", err)
	}
	if newest >= int64(t.meta.TID) {
		return &storage.StorageError{Msg: fmt.Sprintf("restore: tid %s is not newer than the last transaction %s", t.meta.TID, tid.TID(newest))}
	}
	return nil
}

// userDesc are the transaction's user and description for the NOT NULL
// columns of the transaction table.
func (t *txn) userDesc() (user, desc []byte) {
	user, desc = t.meta.User, t.meta.Description
	if user == nil {
		user = []byte{}
	}
	if desc == nil {
		desc = []byte{}
	}
	return user, desc
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
	var given any // NULL: choose the tid under the commit lock
	if t.meta.TID != 0 {
		given = int64(t.meta.TID)
		if err := t.lockForRestore(ctx); err != nil {
			t.dropBlobs()
			t.rollback()
			return 0, err
		}
	}
	if t.sharedBlobsToPlace() {
		var err error
		if given, err = t.placeSharedBlobs(ctx, given); err != nil {
			t.dropBlobs()
			t.rollback()
			return 0, err
		}
	}
	b := &pgx.Batch{}
	if t.s.hp {
		user, desc := t.userDesc()
		b.Queue(`SELECT set_config('zdkit.tid', lock_and_choose_tid_and_move($4, TRUE, $1, $2, $3)::text, TRUE)::bigint`,
			user, desc, t.ext, given)
	} else {
		b.Queue(`SELECT set_config('zdkit.tid', lock_and_choose_tid_and_move($1, TRUE)::text, TRUE)::bigint`, given)
	}
	b.Queue(`SELECT pg_notify('` + notifyChannel + `', current_setting('zdkit.tid'))`)
	// History-free deleteObject removes the row, as RelStorage 4.2's
	// HistoryFreePackUndo.deleteObject does (its blob rows cascade).
	var gone []int64
	if !t.s.hp {
		for oid, r := range t.recs {
			if r.deleted {
				gone = append(gone, int64(oid))
			}
		}
	}
	if len(gone) > 0 {
		b.Queue(`DELETE FROM object_state WHERE zoid = ANY($1) AND state IS NULL`, gone)
	}
	// The commits made elsewhere below ours, read in the same round
	// trip: holding lock -1, this statement's snapshot has every commit
	// with a smaller tid (they committed before we got the lock).
	t.s.deliverMu.Lock()
	defer t.s.deliverMu.Unlock()
	last := tid.TID(t.s.lastDelivered.Load())
	b.Queue(`SELECT tid, zoid FROM object_state WHERE tid > $1 AND tid < current_setting('zdkit.tid')::bigint
		ORDER BY tid, zoid`, int64(last))
	b.Queue("COMMIT")
	br := t.conn.SendBatch(ctx, b)
	var newTid int64
	var prior []storage.Invalidation
	err := br.QueryRow().Scan(&newTid)
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil && len(gone) > 0 {
		_, err = br.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			prior, err = groupByTid(rows)
		}
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.dropBlobsAfter(err)
		t.rollback()
		return 0, convErr("tpc_finish", err)
	}
	t.conn = nil
	for oid, r := range t.recs {
		if !r.deleted {
			t.s.revs.put(oid, tid.TID(newTid), r.data)
		}
	}
	if t.blobs != nil {
		t.placeBlobs(tid.TID(newTid))
	}
	if tid.TID(newTid) > last {
		t.s.lastDelivered.Store(uint64(newTid))
	}
	t.prior = prior
	return tid.TID(newTid), nil
}

// PriorCommits: see storage.PriorCommits.
func (t *txn) PriorCommits() []storage.Invalidation { return t.prior }

// Abort rolls back, which frees the object locks.
func (t *txn) Abort() {
	t.dropBlobs()
	t.rollback()
	t.release()
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
	return groupByTid(rows)
}

// groupByTid reads (tid, zoid) rows in tid order into one invalidation
// per tid, and closes rows.
func groupByTid(rows pgx.Rows) ([]storage.Invalidation, error) {
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
	desc, err := groupByTid(rows)
	if err != nil {
		return nil, convErr("reading the last transactions", err)
	}
	count := 0
	for _, inv := range desc {
		count += len(inv.OIDs)
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
		conn, err := pgx.ConnectConfig(ctx, s.connConfig("listen"))
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
