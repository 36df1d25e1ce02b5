package pgstorage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

func TestMain(m *testing.M) { os.Exit(pgsandbox.Main(m)) }

func open(t testing.TB, dsn string, hp bool) *Storage {
	t.Helper()
	s, err := Open(context.Background(), Options{DSN: dsn, KeepHistory: hp, CreateSchema: true, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// commit stores the given states in one transaction and returns its tid.
func commit(t *testing.T, s *Storage, recs map[storage.OID][2]any) tid.TID {
	t.Helper()
	tx, err := s.Begin(storage.TxnMeta{User: []byte("u"), Description: []byte("d")})
	if err != nil {
		t.Fatal(err)
	}
	for oid, r := range recs {
		if err := tx.Store(oid, r[0].(tid.TID), r[1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Vote(); err != nil {
		tx.Abort()
		t.Fatalf("vote: %v", err)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	return n
}

func TestCommitLoadHistoryHP(t *testing.T) {
	s := open(t, pgsandbox.NewDatabase(t), true)
	oid, err := s.NewOID()
	if err != nil {
		t.Fatal(err)
	}
	if oid != 16 {
		t.Fatalf("first oid = %d, want 16 (zoid_seq value 1 stands for oids 16..1)", oid)
	}
	t1 := commit(t, s, map[storage.OID][2]any{0: {tid.TID(0), []byte("root v1")}, oid: {tid.TID(0), []byte("obj v1")}})
	t2 := commit(t, s, map[storage.OID][2]any{oid: {t1, []byte("obj v2")}})
	if t2 <= t1 {
		t.Fatalf("tids not increasing: %s then %s", t1, t2)
	}
	if got := s.LastTransaction(); got != t2 {
		t.Fatalf("LastTransaction = %s, want %s", got, t2)
	}
	// loadBefore is exact: before t2 gives v1 ending at t2.
	data, start, end, ok, err := s.LoadBefore(oid, t2)
	if err != nil || !ok || string(data) != "obj v1" || start != t1 || end != t2 {
		t.Fatalf("LoadBefore(t2) = %q %s %s %v %v", data, start, end, ok, err)
	}
	data, start, end, ok, err = s.LoadBefore(oid, t2+1)
	if err != nil || !ok || string(data) != "obj v2" || start != t2 || end != 0 {
		t.Fatalf("LoadBefore(t2+1) = %q %s %s %v %v", data, start, end, ok, err)
	}
	if _, _, _, ok, err := s.LoadBefore(oid, t1); ok || err != nil {
		t.Fatalf("LoadBefore(t1) = ok %v err %v, want no revision", ok, err)
	}
	var pk *storage.POSKeyError
	if _, _, _, _, err := s.LoadBefore(9999, t2+1); !errors.As(err, &pk) {
		t.Fatalf("LoadBefore(missing) err = %v, want POSKeyError", err)
	}
	if d, err := s.LoadSerial(oid, t1); err != nil || string(d) != "obj v1" {
		t.Fatalf("LoadSerial = %q %v", d, err)
	}
	if _, err := s.LoadSerial(oid, t1+1); !errors.As(err, &pk) {
		t.Fatalf("LoadSerial(no such) err = %v", err)
	}
	h, err := s.History(oid, 10)
	if err != nil || len(h) != 2 || h[0].TID != t2 || h[1].TID != t1 || string(h[0].User) != "u" || h[0].Size != 6 {
		t.Fatalf("History = %+v %v", h, err)
	}
}

func TestConflictsAndReadCurrent(t *testing.T) {
	for _, hp := range []bool{true, false} {
		s := open(t, pgsandbox.NewDatabase(t), hp)
		t1 := commit(t, s, map[storage.OID][2]any{1: {tid.TID(0), []byte("a1")}, 2: {tid.TID(0), []byte("b1")}})
		t2 := commit(t, s, map[storage.OID][2]any{1: {t1, []byte("a2")}})
		// A store based on t1 conflicts with t2, reported from vote.
		tx, _ := s.Begin(storage.TxnMeta{})
		tx.Store(1, t1, []byte("a3"))
		err := tx.Vote()
		tx.Abort()
		var vc *storage.VoteConflicts
		if !errors.As(err, &vc) || len(vc.Conflicts) != 1 || vc.Conflicts[0].OID != 1 ||
			vc.Conflicts[0].Committed != t2 || vc.Conflicts[0].Serial != t1 {
			t.Fatalf("hp=%v vote err = %#v, want one conflict on oid 1 (committed %s, serial %s)", hp, err, t2, t1)
		}
		// readCurrent of oid 1 at t1 while storing oid 2: read conflict.
		tx, _ = s.Begin(storage.TxnMeta{})
		tx.CheckCurrent(1, t1)
		tx.Store(2, t1, []byte("b2"))
		err = tx.Vote()
		tx.Abort()
		var ce *storage.ConflictError
		if !errors.As(err, &ce) || !ce.Read || ce.OID != 1 || ce.Committed != t2 {
			t.Fatalf("hp=%v readCurrent vote err = %#v", hp, err)
		}
		// The same with the right serial commits.
		tx, _ = s.Begin(storage.TxnMeta{})
		tx.CheckCurrent(1, t2)
		tx.Store(2, t1, []byte("b2"))
		if err := tx.Vote(); err != nil {
			t.Fatalf("hp=%v vote: %v", hp, err)
		}
		t3, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if d, st, _, ok, err := s.LoadBefore(2, t3+1); err != nil || !ok || string(d) != "b2" || st != t3 {
			t.Fatalf("hp=%v load after readCurrent commit = %q %s %v %v", hp, d, st, ok, err)
		}
	}
}

// An aborted vote frees its object locks: a second session can lock
// the same object at once.
func TestAbortFreesLocks(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	s := open(t, dsn, true)
	t1 := commit(t, s, map[storage.OID][2]any{1: {tid.TID(0), []byte("a1")}})
	tx, _ := s.Begin(storage.TxnMeta{})
	tx.Store(1, t1, []byte("a2"))
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(1)`).Scan(&got); err != nil || got {
		t.Fatalf("object lock 1 free while voted (got %v, err %v)", got, err)
	}
	tx.Abort()
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(1)`).Scan(&got); err != nil || !got {
		t.Fatalf("object lock 1 still held after abort (got %v, err %v)", got, err)
	}
}

func TestHistoryFree(t *testing.T) {
	s := open(t, pgsandbox.NewDatabase(t), false)
	t1 := commit(t, s, map[storage.OID][2]any{5: {tid.TID(0), []byte("v1")}})
	t2 := commit(t, s, map[storage.OID][2]any{5: {t1, []byte("v2")}})
	d, st, end, ok, err := s.LoadBefore(5, t2+1)
	if err != nil || !ok || !bytes.Equal(d, []byte("v2")) || st != t2 || end != 0 {
		t.Fatalf("LoadBefore current = %q %s %s %v %v", d, st, end, ok, err)
	}
	// The superseded revision is gone: no answer, not a wrong one.
	if _, _, _, ok, err := s.LoadBefore(5, t2); ok || err != nil {
		t.Fatalf("LoadBefore(t2) in history-free = ok %v err %v, want no revision", ok, err)
	}
	h, err := s.History(5, 10)
	if err != nil || len(h) != 1 || h[0].TID != t2 {
		t.Fatalf("History = %+v %v", h, err)
	}
}

func TestSchemaRefusal(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	ctx := context.Background()
	if _, err := Open(ctx, Options{DSN: dsn, KeepHistory: true}); !errors.Is(err, ErrNoSchema) {
		t.Fatalf("empty database without create-schema: %v, want ErrNoSchema", err)
	}
	s := open(t, dsn, false)
	s.Close()
	_, err := Open(ctx, Options{DSN: dsn, KeepHistory: true, CreateSchema: true})
	if !errors.Is(err, ErrHistoryMode) {
		t.Fatalf("HP open of an HF schema: %v, want ErrHistoryMode", err)
	}
	t.Logf("refused: %v", err)
	// A pre-3.5 schema: the vote function locks rows, not advisory locks.
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE OR REPLACE FUNCTION lock_objects_and_detect_conflicts(
		read_current_oids BIGINT[], read_current_tids BIGINT[])
		RETURNS TABLE(zoid BIGINT, tid BIGINT, prev_tid BIGINT, committed_state BYTEA) AS $$
		BEGIN PERFORM 1 FROM object_state FOR UPDATE; END; $$ LANGUAGE plpgsql`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Options{DSN: dsn, KeepHistory: false})
	if !errors.Is(err, ErrOldSchema) {
		t.Fatalf("pre-3.5 schema: %v, want ErrOldSchema", err)
	}
	if _, err := c.Exec(ctx, `DROP FUNCTION lock_and_choose_tid_and_move(bigint, boolean)`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Options{DSN: dsn, KeepHistory: false})
	if !errors.Is(err, ErrOldSchema) || !bytes.Contains([]byte(err.Error()), []byte("lock_and_choose_tid_and_move(bigint, boolean)")) {
		t.Fatalf("missing function: %v", err)
	}
}

// Two storages on one database: commits of one are polled by the
// other in tid order, and a commit's prior commits come with it.
func TestPollAndPrior(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	a, b := open(t, dsn, true), open(t, dsn, true)
	woke := make(chan struct{}, 100)
	b.WatchCommits(func() {
		select {
		case woke <- struct{}{}:
		default:
		}
	})
	t1 := commit(t, a, map[storage.OID][2]any{1: {tid.TID(0), []byte("x")}})
	t2 := commit(t, a, map[storage.OID][2]any{2: {tid.TID(0), []byte("y")}})
	select {
	case <-woke:
	case <-time.After(10 * time.Second):
		t.Fatal("b was not woken by a's commits")
	}
	invs, err := b.PollCommits()
	if err != nil || len(invs) != 2 || invs[0].TID != t1 || invs[1].TID != t2 || invs[0].OIDs[0] != 1 {
		t.Fatalf("PollCommits = %+v %v", invs, err)
	}
	if b.LastTransaction() != t2 {
		t.Fatalf("b.LastTransaction = %s, want %s", b.LastTransaction(), t2)
	}
	t3 := commit(t, a, map[storage.OID][2]any{3: {tid.TID(0), []byte("z")}})
	tx, _ := b.Begin(storage.TxnMeta{})
	tx.Store(4, 0, []byte("w"))
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	t4, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	prior := tx.(storage.PriorCommits).PriorCommits()
	if len(prior) != 1 || prior[0].TID != t3 || t4 <= t3 {
		t.Fatalf("prior commits = %+v (t3 %s, t4 %s)", prior, t3, t4)
	}
	if invs, err := b.PollCommits(); err != nil || len(invs) != 0 {
		t.Fatalf("poll after own commit = %+v %v, want nothing", invs, err)
	}
}

// The database restarting under two storages: loads, commits and the
// fan-out carry on over new sessions, nothing committed is lost.
func TestDatabaseRestart(t *testing.T) {
	srv := pgsandbox.Private(t)
	ctx := context.Background()
	name, err := srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dsn := srv.DSN(name)
	a, b := open(t, dsn, true), open(t, dsn, true)
	t1 := commit(t, a, map[storage.OID][2]any{1: {tid.TID(0), []byte("before")}})
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var t2 tid.TID
	deadline := time.Now().Add(30 * time.Second)
	for {
		tx, _ := a.Begin(storage.TxnMeta{})
		tx.Store(1, t1, []byte("after"))
		err := tx.Vote()
		if err == nil {
			if t2, err = tx.Finish(); err == nil {
				break
			}
		} else {
			tx.Abort()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no commit within 30 s of the restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d, st, _, ok, err := b.LoadBefore(1, t2+1)
	if err != nil || !ok || string(d) != "after" || st != t2 {
		t.Fatalf("load through b after restart = %q %s %v %v", d, st, ok, err)
	}
	for b.LastTransaction() < t2 {
		if _, err := b.PollCommits(); err != nil && time.Now().After(deadline) {
			t.Fatalf("b cannot poll after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIterateAndUndo(t *testing.T) {
	s := open(t, pgsandbox.NewDatabase(t), true)
	t1 := commit(t, s, map[storage.OID][2]any{0: {tid.TID(0), []byte("root")}})
	t2 := commit(t, s, map[storage.OID][2]any{1: {tid.TID(0), []byte("one")}})
	t3 := commit(t, s, map[storage.OID][2]any{1: {t2, []byte("two")}})
	var got []storage.TxnRecord
	if err := s.Iterate(0, 0, func(r storage.TxnRecord) bool { got = append(got, r); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].TID != t1 || got[2].TID != t3 || len(got[2].Records) != 1 ||
		string(got[2].Records[0].Data) != "two" || string(got[2].User) != "u" {
		t.Fatalf("Iterate = %+v", got)
	}
	log, err := s.UndoLog(0, 10, nil)
	if err != nil || len(log) != 3 || log[0].TID != t3 || log[2].TID != t1 {
		t.Fatalf("UndoLog = %+v %v", log, err)
	}
	undo := func(id []byte) error {
		tx, _ := s.Begin(storage.TxnMeta{})
		defer tx.Abort()
		if _, err := tx.Undo(id); err != nil {
			return err
		}
		if err := tx.Vote(); err != nil {
			return err
		}
		_, err := tx.Finish()
		return err
	}
	var mu *storage.MultipleUndoError
	if err := undo(log[1].ID); !errors.As(err, &mu) || *mu.Errs[0].OID != 1 {
		t.Fatalf("undo of a transaction modified later: %v", err)
	}
	if err := undo(log[2].ID); !errors.As(err, &mu) || *mu.Errs[0].OID != 0 {
		t.Fatalf("undo of the root's creation: %v", err)
	}
	if err := undo(log[0].ID); err != nil {
		t.Fatal(err)
	}
	if d, _, _, ok, err := s.LoadBefore(1, tid.TID(1<<63-1)); err != nil || !ok || string(d) != "one" {
		t.Fatalf("after undo: %q %v %v", d, ok, err)
	}
}

// refPickle is a ZODB record (class pickle, state pickle) whose state
// holds persistent references to oids (protocol 3, as ZODB writes).
func refPickle(oids ...storage.OID) []byte {
	b := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03]q\x01(")
	for _, o := range oids {
		ob := o.Bytes()
		b = append(b, 'C', 8)
		b = append(b, ob...)
		b = append(b, "cpersistent.mapping\nPersistentMapping\n\x86Q"...)
	}
	return append(b, "e."...)
}

func TestPackGC(t *testing.T) {
	for _, hp := range []bool{true, false} {
		s := open(t, pgsandbox.NewDatabase(t), hp)
		// root -> 1 -> 2; 3 is referenced by nobody.
		t1 := commit(t, s, map[storage.OID][2]any{0: {tid.TID(0), refPickle(1)}, 1: {tid.TID(0), refPickle(2)},
			2: {tid.TID(0), refPickle()}, 3: {tid.TID(0), refPickle()}})
		t2 := commit(t, s, map[storage.OID][2]any{1: {t1, refPickle(2)}})
		// RelStorage's zodbpack holding the pack lock keeps us out.
		ctx := context.Background()
		c, err := pgx.Connect(ctx, s.opts.DSN)
		if err != nil {
			t.Fatal(err)
		}
		c.Exec(ctx, `SELECT pg_advisory_lock(-2)`)
		if err := s.Pack(t2+1, true); err == nil || !strings.Contains(err.Error(), "advisory lock -2") {
			t.Fatalf("pack beside a held pack lock: %v", err)
		}
		c.Exec(ctx, `SELECT pg_advisory_unlock(-2)`)
		c.Close(ctx)
		if err := s.Pack(t2+1, true); err != nil {
			t.Fatalf("hp=%v pack: %v", hp, err)
		}
		var pk *storage.POSKeyError
		if _, _, _, _, err := s.LoadBefore(3, t2+1); !errors.As(err, &pk) {
			t.Fatalf("hp=%v unreachable oid 3 after pack: %v", hp, err)
		}
		for _, o := range []storage.OID{0, 1, 2} {
			if _, _, _, ok, err := s.LoadBefore(o, t2+1); err != nil || !ok {
				t.Fatalf("hp=%v reachable %s after pack: %v %v", hp, o, ok, err)
			}
		}
		if hp {
			// The revision of 1 superseded before the pack time is gone.
			if _, err := s.LoadSerial(1, t1); !errors.As(err, &pk) {
				t.Fatalf("old revision after pack: %v", err)
			}
			if log, err := s.UndoLog(0, 10, nil); err != nil || len(log) != 0 {
				t.Fatalf("undoLog after pack = %+v %v, want nothing", log, err)
			}
		}
	}
}

func TestRestore(t *testing.T) {
	s := open(t, pgsandbox.NewDatabase(t), true)
	restore := func(at tid.TID, oid storage.OID, data []byte) error {
		tx, err := s.Begin(storage.TxnMeta{TID: at, Status: ' ', User: []byte("copier")})
		if err != nil {
			return err
		}
		defer tx.Abort()
		if err := tx.Restore(oid, 0, data, 0); err != nil {
			return err
		}
		if err := tx.Vote(); err != nil {
			return err
		}
		got, err := tx.Finish()
		if err == nil && got != at {
			return fmt.Errorf("restored at %s, want %s", got, at)
		}
		return err
	}
	at := tid.TID(0x03c0000000000000)
	if err := restore(at, 40, []byte("copied")); err != nil {
		t.Fatal(err)
	}
	if d, st, _, ok, err := s.LoadBefore(40, at+1); err != nil || !ok || string(d) != "copied" || st != at {
		t.Fatalf("restored record = %q %s %v %v", d, st, ok, err)
	}
	if err := restore(at-1, 41, []byte("older")); err == nil || !strings.Contains(err.Error(), "not newer") {
		t.Fatalf("restore below the last tid: %v", err)
	}
	// Oids restored are never handed out again.
	if o, err := s.NewOID(); err != nil || o <= 40 {
		t.Fatalf("NewOID after restoring oid 40 = %s %v", o, err)
	}
}

func TestReadOnly(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	ctx := context.Background()
	// Read-only never creates the schema.
	if _, err := Open(ctx, Options{DSN: dsn, KeepHistory: true, CreateSchema: true, ReadOnly: true}); !errors.Is(err, ErrNoSchema) {
		t.Fatalf("read-only open of an empty database: %v", err)
	}
	w := open(t, dsn, true)
	t1 := commit(t, w, map[storage.OID][2]any{0: {tid.TID(0), []byte("root")}})
	ro, err := Open(ctx, Options{DSN: dsn, KeepHistory: true, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if !ro.Info().ReadOnly {
		t.Fatal("Info().ReadOnly is false")
	}
	if _, err := ro.Begin(storage.TxnMeta{}); !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("Begin: %v", err)
	}
	if _, err := ro.NewOID(); !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("NewOID: %v", err)
	}
	if err := ro.Pack(t1, true); !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("Pack: %v", err)
	}
	if d, _, _, ok, err := ro.LoadBefore(0, t1+1); err != nil || !ok || string(d) != "root" {
		t.Fatalf("LoadBefore: %q %v %v", d, ok, err)
	}
}

// The store session dropped between vote and finish (a database
// failover, an administrator): tpc_finish reports it, nothing is half
// committed, no lock stays behind and the next commit reconnects.
func TestSessionDroppedMidCommit(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	s := open(t, dsn, true)
	t1 := commit(t, s, map[storage.OID][2]any{1: {tid.TID(0), []byte("v1")}})
	tx, _ := s.Begin(storage.TxnMeta{})
	tx.Store(1, t1, []byte("lost"))
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND state = 'idle in transaction'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d voted sessions (%v), want 1", n, err)
	}
	if _, err := tx.Finish(); err == nil {
		t.Fatal("tpc_finish on a dropped session succeeded")
	}
	tx.Abort()
	t2 := commit(t, s, map[storage.OID][2]any{1: {t1, []byte("v2")}})
	if d, st, _, ok, err := s.LoadBefore(1, t2+1); err != nil || !ok || string(d) != "v2" || st != t2 {
		t.Fatalf("after the dropped session: %q %s %v %v", d, st, ok, err)
	}
	if h, err := s.History(1, 10); err != nil || len(h) != 2 || h[0].TID != t2 || h[1].TID != t1 {
		t.Fatalf("history = %+v %v, want t2 and t1 only", h, err)
	}
	// An idle store session cut between transactions: the next vote
	// notices and votes again on a new session, the client sees nothing.
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'runzeo store'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d store sessions (%v)", n, err)
	}
	commit(t, s, map[storage.OID][2]any{1: {t2, []byte("v3")}})
}

// deleteObject: history-preserving writes a revision without state
// (RelStorage 4.0), history-free removes the row.
func TestDeleteObject(t *testing.T) {
	for _, hp := range []bool{true, false} {
		s := open(t, pgsandbox.NewDatabase(t), hp)
		t1 := commit(t, s, map[storage.OID][2]any{9: {tid.TID(0), []byte("doomed")}})
		tx, _ := s.Begin(storage.TxnMeta{})
		tx.Delete(9, t1)
		if err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		t2, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		var pk *storage.POSKeyError
		if _, _, _, _, err := s.LoadBefore(9, t2+1); !errors.As(err, &pk) {
			t.Fatalf("hp=%v load after delete: %v", hp, err)
		}
		var rows int
		c, err := pgx.Connect(context.Background(), s.opts.DSN)
		if err != nil {
			t.Fatal(err)
		}
		c.QueryRow(context.Background(), `SELECT count(*) FROM object_state WHERE zoid = 9`).Scan(&rows)
		c.Close(context.Background())
		if want := map[bool]int{true: 2, false: 0}[hp]; rows != want {
			t.Fatalf("hp=%v: %d rows of the deleted object, want %d", hp, rows, want)
		}
		if hp {
			if d, err := s.LoadSerial(9, t1); err != nil || string(d) != "doomed" {
				t.Fatalf("old revision after delete: %q %v", d, err)
			}
		}
	}
}
