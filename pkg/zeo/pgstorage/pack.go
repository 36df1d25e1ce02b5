package pgstorage

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// packBatch is how many objects one reference or delete query covers.
const packBatch = 500

// Pack removes what is not needed to read as of t. It holds RelStorage's
// pack lock (session advisory lock -2), so it and RelStorage's zodbpack
// exclude each other.
//
// History-preserving: for every object, the revisions older than its
// newest revision at t go; the transactions up to t are marked packed
// (undo no longer reaches them) and those left without rows is_empty.
// With gc, objects unreachable from the root (oid 0) as of t and not
// changed since are removed entirely (their blobs with them, through the
// cascade and the unlink trigger). History-free packs only by gc.
// References are read out of the pickles here (zodbpickle.References,
// ZODB's referencesf), not taken from object_ref.
func (s *Storage) Pack(t tid.TID, gc bool) (err error) {
	if s.opts.ReadOnly {
		return storage.ErrReadOnly
	}
	ctx := s.ctx
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return convErr("pack", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(-2)`).Scan(&got); err != nil {
		return convErr("pack", err)
	}
	if !got {
		return &storage.StorageError{Msg: "a pack is already running on this database (advisory lock -2 is held)"}
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(-2)`)
	// Never past the newest commit: transactions committing meanwhile
	// get larger tids and stay untouched.
	var newest int64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(tid), 0) FROM object_state`).Scan(&newest); err != nil {
		return convErr("pack", err)
	}
	t = min(t, tid.TID(newest))
	if t == 0 {
		return nil
	}
	if s.sharedBlobs != nil {
		defer func() {
			if serr := s.sweepSharedBlobs(ctx, t); err == nil {
				err = serr
			}
		}()
	}
	if gc {
		garbage, err := s.unreachable(ctx, conn.Conn(), t)
		if err != nil {
			return err
		}
		if err := s.removeObjects(ctx, conn.Conn(), garbage, t); err != nil {
			return err
		}
	}
	if !s.hp {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return convErr("pack", err)
	}
	defer tx.Rollback(ctx)
	stmts := []string{
		`DELETE FROM object_state o
		 USING (SELECT zoid, MAX(tid) AS keep_tid FROM object_state WHERE tid <= $1 GROUP BY zoid) k
		 WHERE o.zoid = k.zoid AND o.tid < k.keep_tid`,
		`UPDATE "transaction" SET packed = TRUE WHERE tid > 0 AND tid <= $1 AND NOT packed`,
		`UPDATE "transaction" t SET is_empty = TRUE WHERE t.tid > 0 AND t.tid <= $1 AND NOT t.is_empty
		 AND NOT EXISTS (SELECT 1 FROM object_state o WHERE o.tid = t.tid)`,
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q, int64(t)); err != nil {
			return convErr("pack", err)
		}
	}
	return convErr("pack", tx.Commit(ctx))
}

// unreachable returns the objects not reachable from the root as of t
// through their state at t, counting everything changed after t as
// reachable (and its references).
func (s *Storage) unreachable(ctx context.Context, conn *pgx.Conn, t tid.TID) ([]int64, error) {
	seen := map[int64]bool{0: true}
	queue := []int64{0}
	rows, err := conn.Query(ctx, `SELECT DISTINCT zoid FROM object_state WHERE tid > $1`, int64(t))
	if err != nil {
		return nil, convErr("pack", err)
	}
	for rows.Next() {
		var z int64
		if err := rows.Scan(&z); err != nil {
			rows.Close()
			return nil, convErr("pack", err)
		}
		if !seen[z] {
			seen[z] = true
			queue = append(queue, z)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, convErr("pack", err)
	}
	for len(queue) > 0 {
		n := min(len(queue), packBatch)
		batch := queue[:n]
		queue = queue[n:]
		// The state each object had at t, and every later one.
		rows, err := conn.Query(ctx, `SELECT o.zoid, o.state FROM object_state o
			WHERE o.zoid = ANY($1) AND o.state IS NOT NULL AND (o.tid > $2
			   OR o.tid = (SELECT MAX(p.tid) FROM object_state p WHERE p.zoid = o.zoid AND p.tid <= $2))`,
			batch, int64(t))
		if err != nil {
			return nil, convErr("pack", err)
		}
		for rows.Next() {
			var z int64
			var state []byte
			if err := rows.Scan(&z, &state); err != nil {
				rows.Close()
				return nil, convErr("pack", err)
			}
			refs, err := zodbpickle.References(state)
			if err != nil {
				rows.Close()
				return nil, &storage.StorageError{Msg: fmt.Sprintf("pack: reading the references of %s: %v", storage.OID(z), err)}
			}
			for _, r := range refs {
				if !seen[int64(r)] {
					seen[int64(r)] = true
					queue = append(queue, int64(r))
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, convErr("pack", err)
		}
	}
	var garbage []int64
	rows, err = conn.Query(ctx, `SELECT DISTINCT zoid FROM object_state`)
	if err != nil {
		return nil, convErr("pack", err)
	}
	defer rows.Close()
	for rows.Next() {
		var z int64
		if err := rows.Scan(&z); err != nil {
			return nil, convErr("pack", err)
		}
		if !seen[z] {
			garbage = append(garbage, z)
		}
	}
	return garbage, convErr("pack", rows.Err())
}

// removeObjects deletes unreachable objects in committed batches. Each
// batch holds the objects' advisory locks, so no commit of them is
// between vote and finish, and skips any that changed after t.
func (s *Storage) removeObjects(ctx context.Context, conn *pgx.Conn, oids []int64, t tid.TID) error {
	current := "object_state"
	if s.hp {
		current = "current_object"
	}
	for len(oids) > 0 {
		n := min(len(oids), packBatch)
		batch := oids[:n]
		oids = oids[n:]
		tx, err := conn.Begin(ctx)
		if err != nil {
			return convErr("pack", err)
		}
		type stmt struct {
			q    string
			args []any
		}
		stmts := []stmt{
			{`SELECT pg_advisory_xact_lock(z) FROM unnest($1::bigint[]) AS u(z) ORDER BY z`, []any{batch}},
			{`CREATE TEMPORARY TABLE IF NOT EXISTS pack_garbage (zoid BIGINT PRIMARY KEY) ON COMMIT DROP`, nil},
			{`INSERT INTO pack_garbage SELECT z FROM unnest($1::bigint[]) AS u(z)
			 WHERE NOT EXISTS (SELECT 1 FROM ` + current + ` c WHERE c.zoid = u.z AND c.tid > $2)`, []any{batch, int64(t)}},
		}
		if s.hp {
			stmts = append(stmts, stmt{`DELETE FROM current_object WHERE zoid IN (SELECT zoid FROM pack_garbage)`, nil})
		}
		stmts = append(stmts, stmt{`DELETE FROM object_state WHERE zoid IN (SELECT zoid FROM pack_garbage)`, nil})
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st.q, st.args...); err != nil {
				tx.Rollback(ctx)
				return convErr("pack", err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return convErr("pack", err)
		}
	}
	return nil
}

// Zap empties the database and keeps its schema (RelStorage's zap_all,
// zodbconvert --clear): every table, the large objects of the blobs and
// the oid sequence; history-preserving databases get their tid 0 row
// back. It takes the commit and pack locks first.
func (s *Storage) Zap(ctx context.Context) error {
	if s.opts.ReadOnly {
		return storage.ErrReadOnly
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return convErr("zap", err)
	}
	defer tx.Rollback(ctx)
	stmts := []string{
		`SELECT pg_advisory_xact_lock(-2), pg_advisory_xact_lock(-1)`,
		`SELECT lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE l.oid IN (SELECT chunk FROM blob_chunk)`,
	}
	tables := "object_state, blob_chunk, object_ref, object_refs_added, pack_object"
	if s.hp {
		tables += `, current_object, "transaction", pack_state, pack_state_tid`
	}
	stmts = append(stmts, `TRUNCATE `+tables, `ALTER SEQUENCE zoid_seq RESTART WITH 1`)
	if s.hp {
		stmts = append(stmts, `INSERT INTO "transaction" (tid, username, description)
			VALUES (0, 'system'::bytea, 'special transaction for object creation'::bytea)`)
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return convErr("zap", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return convErr("zap", err)
	}
	s.deliverMu.Lock()
	s.lastDelivered.Store(0)
	s.deliverMu.Unlock()
	s.oidMu.Lock()
	s.oidFree = nil
	s.oidMu.Unlock()
	return nil
}
