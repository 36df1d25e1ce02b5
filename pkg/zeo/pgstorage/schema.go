package pgstorage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Schema errors: the database cannot be served as configured.
var (
	// ErrNoSchema: the database has no RelStorage tables and
	// create-schema is off.
	ErrNoSchema = errors.New("database has no RelStorage schema")
	// ErrHistoryMode: the schema is of the other history mode.
	ErrHistoryMode = errors.New("RelStorage schema of the other history mode")
	// ErrOldSchema: the schema predates RelStorage 3.5's advisory-lock
	// commit protocol, or is incomplete.
	ErrOldSchema = errors.New("RelStorage schema too old or incomplete")
)

// tablesDDL creates RelStorage's tables (RelStorage 4.2
// adapters/schema.py and adapters/postgresql/schema.py: same names,
// columns, types and constraints), history-preserving or history-free.
func tablesDDL(hp bool) []string {
	var s []string
	s = append(s, `CREATE TABLE commit_row_lock (tid BIGINT NOT NULL PRIMARY KEY)`)
	if hp {
		s = append(s, `CREATE TABLE "transaction" (
			tid BIGINT NOT NULL PRIMARY KEY,
			packed BOOLEAN NOT NULL DEFAULT FALSE,
			is_empty BOOLEAN NOT NULL DEFAULT FALSE,
			username BYTEA NOT NULL,
			description BYTEA NOT NULL,
			extension BYTEA)`)
	}
	s = append(s, `CREATE SEQUENCE IF NOT EXISTS zoid_seq`)
	if hp {
		s = append(s, `CREATE TABLE object_state (
			zoid BIGINT NOT NULL,
			tid BIGINT NOT NULL REFERENCES "transaction",
			prev_tid BIGINT NOT NULL REFERENCES "transaction",
			md5 CHAR(32),
			state_size BIGINT NOT NULL,
			state BYTEA,
			CONSTRAINT object_state_pk PRIMARY KEY (zoid, tid),
			CHECK (tid > 0),
			CHECK (state_size >= 0))`,
			`CREATE INDEX object_state_tid ON object_state (tid)`,
			`CREATE INDEX object_state_prev_tid ON object_state (prev_tid)`,
			`CREATE TABLE blob_chunk (
			zoid BIGINT NOT NULL,
			tid BIGINT NOT NULL,
			chunk_num BIGINT NOT NULL,
			chunk OID NOT NULL,
			CONSTRAINT blob_chunk_pk PRIMARY KEY (zoid, tid, chunk_num),
			CONSTRAINT blob_chunk_fk FOREIGN KEY (zoid, tid)
				REFERENCES object_state (zoid, tid) ON DELETE CASCADE)`,
			`CREATE INDEX blob_chunk_lookup ON blob_chunk (zoid, tid)`,
			`CREATE TABLE current_object (
			zoid BIGINT NOT NULL PRIMARY KEY,
			tid BIGINT NOT NULL,
			FOREIGN KEY (zoid, tid) REFERENCES object_state (zoid, tid))`,
			`CREATE INDEX current_object_tid ON current_object (tid)`,
			`CREATE TABLE object_ref (
			zoid BIGINT NOT NULL,
			tid BIGINT NOT NULL,
			to_zoid BIGINT NOT NULL,
			PRIMARY KEY (tid, zoid, to_zoid))`,
			`CREATE TABLE object_refs_added (tid BIGINT NOT NULL PRIMARY KEY)`)
	} else {
		s = append(s, `CREATE TABLE object_state (
			zoid BIGINT NOT NULL PRIMARY KEY,
			tid BIGINT NOT NULL,
			state_size BIGINT NOT NULL,
			state BYTEA,
			CHECK (tid > 0),
			CHECK (state_size >= 0))`,
			`CREATE INDEX object_state_tid ON object_state (tid)`,
			`CREATE TABLE blob_chunk (
			zoid BIGINT NOT NULL,
			chunk_num BIGINT NOT NULL,
			tid BIGINT NOT NULL,
			chunk OID NOT NULL,
			CONSTRAINT blob_chunk_pk PRIMARY KEY (zoid, chunk_num),
			CONSTRAINT blob_chunk_fk FOREIGN KEY (zoid)
				REFERENCES object_state (zoid) ON DELETE CASCADE)`,
			`CREATE INDEX blob_chunk_lookup ON blob_chunk (zoid)`,
			`CREATE TABLE object_ref (
			zoid BIGINT NOT NULL,
			to_zoid BIGINT NOT NULL,
			tid BIGINT NOT NULL,
			PRIMARY KEY (zoid, to_zoid))`,
			`CREATE TABLE object_refs_added (zoid BIGINT NOT NULL PRIMARY KEY, tid BIGINT NOT NULL)`)
	}
	s = append(s, `CREATE TABLE pack_object (
			zoid BIGINT NOT NULL PRIMARY KEY,
			keep BOOLEAN NOT NULL,
			keep_tid BIGINT NOT NULL,
			visited BOOLEAN NOT NULL DEFAULT FALSE)`,
		`CREATE INDEX pack_object_keep_false ON pack_object (zoid) WHERE keep = false`,
		`CREATE INDEX pack_object_keep_true ON pack_object (visited) WHERE keep = true`)
	if hp {
		s = append(s, `CREATE TABLE pack_state (
			tid BIGINT NOT NULL,
			zoid BIGINT NOT NULL,
			PRIMARY KEY (tid, zoid))`,
			`CREATE TABLE pack_state_tid (tid BIGINT NOT NULL PRIMARY KEY)`,
			`CREATE VIEW current_object_state AS
			SELECT o.zoid, o.tid, o.state
			FROM object_state o
			INNER JOIN current_object c USING (zoid, tid)`,
			// The tid 0 row: object_state.prev_tid of a new object points at it.
			`INSERT INTO "transaction" (tid, username, description)
			VALUES (0, 'system'::bytea, 'special transaction for object creation'::bytea)`)
	}
	s = append(s, `INSERT INTO commit_row_lock (tid) VALUES (0)`)
	return s
}

// function is one stored function of the schema: name, argument types
// (as pg's oidvectortypes prints them) and the CREATE statement.
type function struct {
	name, args, create string
}

// functions are the stored functions, written for this project with the
// names, signatures and semantics of RelStorage 4.2's
// adapters/postgresql/procs (see doc.go).
func functions(hp bool) []function {
	current, stateJoin, stateCol := "object_state", "", "c.state"
	if hp {
		current = "current_object"
		stateJoin = "JOIN object_state o ON o.zoid = c.zoid AND o.tid = c.tid"
		stateCol = "o.state"
	}
	fs := []function{
		{"make_tid_for_epoch", "double precision", `
CREATE OR REPLACE FUNCTION make_tid_for_epoch(unix_ts double precision)
RETURNS BIGINT AS $$
DECLARE
  t TIMESTAMP := timezone('UTC', to_timestamp(unix_ts));
  minutes BIGINT;
  secs double precision;
BEGIN
  -- ZODB's TimeStamp: minutes since 1900 in a 31-day-month calendar in
  -- the high 32 bits, the seconds within the minute scaled to 2**32 and
  -- truncated (not rounded, as C TimeStamp does) in the low 32.
  minutes := ((((EXTRACT(YEAR FROM t)::BIGINT - 1900) * 12 + EXTRACT(MONTH FROM t)::BIGINT - 1) * 31
              + EXTRACT(DAY FROM t)::BIGINT - 1) * 24 + EXTRACT(HOUR FROM t)::BIGINT) * 60
              + EXTRACT(MINUTE FROM t)::BIGINT;
  secs := unix_ts - floor(unix_ts / 60.0) * 60.0;
  RETURN (minutes << 32) + trunc(secs / (60.0::double precision / 4294967296.0::double precision))::BIGINT;
END;
$$ LANGUAGE plpgsql IMMUTABLE`},
		{"make_current_tid", "", `
CREATE OR REPLACE FUNCTION make_current_tid()
RETURNS BIGINT AS $$
  SELECT make_tid_for_epoch(EXTRACT(EPOCH FROM clock_timestamp())::double precision)
$$ LANGUAGE sql VOLATILE`},
		{"lock_objects_and_detect_conflicts", "bigint[], bigint[]", `
CREATE OR REPLACE FUNCTION lock_objects_and_detect_conflicts(
  read_current_oids BIGINT[], read_current_tids BIGINT[])
RETURNS TABLE(zoid BIGINT, tid BIGINT, prev_tid BIGINT, committed_state BYTEA) AS $$
#variable_conflict use_column
DECLARE
  busy BOOLEAN;
BEGIN
  IF read_current_oids IS NOT NULL THEN
    -- A readCurrent object that has already moved on: report it (oid and
    -- current tid) without taking any lock.
    RETURN QUERY
      SELECT c.zoid, c.tid, NULL::BIGINT, NULL::BYTEA
      FROM ` + current + ` c
      JOIN unnest(read_current_oids, read_current_tids) AS r(zoid, tid) ON r.zoid = c.zoid
      WHERE c.tid <> r.tid
      LIMIT 1;
    IF FOUND THEN
      RETURN;
    END IF;
    -- Shared locks, never waiting: a writer holding one of them is about
    -- to change it, which is a read conflict.
    SELECT bool_or(NOT l.got) INTO busy
    FROM (SELECT pg_try_advisory_xact_lock_shared(r.zoid) AS got
          FROM unnest(read_current_oids) AS r(zoid) ORDER BY r.zoid) AS l;
    IF busy THEN
      RAISE EXCEPTION USING ERRCODE = 'lock_not_available', HINT = 'readCurrent';
    END IF;
    PERFORM 1
      FROM ` + current + ` c
      JOIN unnest(read_current_oids, read_current_tids) AS r(zoid, tid) ON r.zoid = c.zoid
      WHERE c.tid <> r.tid;
    IF FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'lock_not_available', HINT = 'readCurrent';
    END IF;
  END IF;
  -- Exclusive locks on every existing object written, in oid order so
  -- that two committers never wait for each other in a cycle; this
  -- waits (up to lock_timeout).
  PERFORM pg_advisory_xact_lock(c.zoid)
    FROM ` + current + ` c JOIN temp_store s ON s.zoid = c.zoid
    WHERE s.prev_tid <> 0
    ORDER BY c.zoid;
  -- With the locks held: every object whose base is no longer current.
  RETURN QUERY
    SELECT c.zoid, c.tid, s.prev_tid, ` + stateCol + `
    FROM ` + current + ` c JOIN temp_store s ON s.zoid = c.zoid
    ` + stateJoin + `
    WHERE s.prev_tid <> c.tid;
END;
$$ LANGUAGE plpgsql`},
		{"blob_chunk_delete_trigger", "", `
CREATE OR REPLACE FUNCTION blob_chunk_delete_trigger()
RETURNS TRIGGER AS $$
BEGIN
  -- Unlink the large object when the last row pointing at it goes.
  IF (SELECT count(*) FROM blob_chunk b WHERE b.chunk = OLD.chunk) <= 1
     AND EXISTS (SELECT 1 FROM pg_largeobject_metadata m WHERE m.oid = OLD.chunk) THEN
    PERFORM lo_unlink(OLD.chunk);
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql`},
		{"temp_blob_chunk_delete_trigger", "", `
CREATE OR REPLACE FUNCTION temp_blob_chunk_delete_trigger()
RETURNS TRIGGER AS $$
BEGIN
  -- An upload replaced within the transaction: drop its large object
  -- unless a committed row uses it.
  IF NOT EXISTS (SELECT 1 FROM blob_chunk b WHERE b.chunk = OLD.chunk)
     AND EXISTS (SELECT 1 FROM pg_largeobject_metadata m WHERE m.oid = OLD.chunk) THEN
    PERFORM lo_unlink(OLD.chunk);
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql`},
	}
	if hp {
		fs = append(fs,
			function{"lock_and_choose_tid", "boolean, bytea, bytea, bytea", `
CREATE OR REPLACE FUNCTION lock_and_choose_tid(
  p_packed BOOLEAN, p_username BYTEA, p_description BYTEA, p_extension BYTEA)
RETURNS BIGINT
SET lock_timeout = 500000
AS $$
DECLARE
  newest BIGINT;
  chosen BIGINT;
BEGIN
  -- The global commit lock: tids are chosen, and become visible, one at
  -- a time and in order.
  PERFORM pg_advisory_xact_lock(-1);
  SELECT COALESCE(MAX(t.tid), 0) INTO newest FROM "transaction" t;
  chosen := GREATEST(make_current_tid(), newest + 1);
  INSERT INTO "transaction" (tid, packed, username, description, extension)
  VALUES (chosen, p_packed, p_username, p_description, p_extension);
  RETURN chosen;
END;
$$ LANGUAGE plpgsql`},
			function{"lock_and_choose_tid_and_move", "bigint, boolean, bytea, bytea, bytea", `
CREATE OR REPLACE FUNCTION lock_and_choose_tid_and_move(
  p_committing_tid BIGINT, p_commit BOOLEAN,
  p_username BYTEA, p_description BYTEA, p_extension BYTEA)
RETURNS BIGINT AS $$
BEGIN
  IF p_committing_tid IS NULL THEN
    p_committing_tid := lock_and_choose_tid(FALSE, p_username, p_description, p_extension);
  END IF;
  INSERT INTO object_state (zoid, tid, prev_tid, md5, state_size, state)
  SELECT s.zoid, p_committing_tid, s.prev_tid, s.md5, COALESCE(octet_length(s.state), 0), s.state
  FROM temp_store s;
  INSERT INTO blob_chunk (zoid, tid, chunk_num, chunk)
  SELECT b.zoid, p_committing_tid, b.chunk_num, b.chunk FROM temp_blob_chunk b;
  INSERT INTO current_object (zoid, tid)
  SELECT s.zoid, p_committing_tid FROM temp_store s
  ON CONFLICT (zoid) DO UPDATE SET tid = excluded.tid;
  RETURN p_committing_tid;
END;
$$ LANGUAGE plpgsql`})
	} else {
		fs = append(fs,
			function{"lock_and_choose_tid", "", `
CREATE OR REPLACE FUNCTION lock_and_choose_tid()
RETURNS BIGINT
SET lock_timeout = 600000
AS $$
DECLARE
  newest BIGINT;
BEGIN
  -- The global commit lock: without a transaction table, it alone keeps
  -- two committers from choosing one tid.
  PERFORM pg_advisory_xact_lock(-1);
  SELECT COALESCE(MAX(o.tid), 0) INTO newest FROM object_state o;
  RETURN GREATEST(make_current_tid(), newest + 1);
END;
$$ LANGUAGE plpgsql`},
			function{"lock_and_choose_tid_and_move", "bigint, boolean", `
CREATE OR REPLACE FUNCTION lock_and_choose_tid_and_move(
  p_committing_tid BIGINT, p_commit BOOLEAN)
RETURNS BIGINT AS $$
BEGIN
  IF p_committing_tid IS NULL THEN
    p_committing_tid := lock_and_choose_tid();
  END IF;
  INSERT INTO object_state (zoid, tid, state_size, state)
  SELECT s.zoid, p_committing_tid, COALESCE(octet_length(s.state), 0), s.state
  FROM temp_store s
  ON CONFLICT (zoid) DO UPDATE SET
    tid = excluded.tid, state_size = excluded.state_size, state = excluded.state;
  DELETE FROM blob_chunk WHERE zoid IN (SELECT s.zoid FROM temp_store s);
  INSERT INTO blob_chunk (zoid, chunk_num, tid, chunk)
  SELECT b.zoid, b.chunk_num, p_committing_tid, b.chunk FROM temp_blob_chunk b;
  RETURN p_committing_tid;
END;
$$ LANGUAGE plpgsql`})
	}
	return fs
}

// sessionDDL creates a store session's temporary tables, with the names
// and columns the stored functions use (RelStorage 4.2
// adapters/postgresql/mover.py on_store_opened). Unlike RelStorage they
// keep their rows at commit: ON COMMIT DELETE ROWS truncates them at
// every commit that touched them, which measured 9-15 ms per commit on
// this project's machine class (the file truncations), against 30 µs
// for a commit without it. The vote deletes the previous rows instead
// (see clearTemps), and the tables are truncated now and then.
var sessionDDL = []string{
	`CREATE TEMPORARY TABLE IF NOT EXISTS temp_store (
		zoid BIGINT NOT NULL PRIMARY KEY,
		prev_tid BIGINT NOT NULL,
		md5 CHAR(32),
		state BYTEA)`,
	`CREATE TEMPORARY TABLE IF NOT EXISTS temp_store_replacements (
		zoid BIGINT NOT NULL PRIMARY KEY,
		prev_tid BIGINT NOT NULL,
		md5 CHAR(32),
		state BYTEA)`,
	`CREATE TEMPORARY TABLE IF NOT EXISTS temp_blob_chunk (
		zoid BIGINT NOT NULL,
		chunk_num BIGINT NOT NULL,
		chunk OID NOT NULL,
		PRIMARY KEY (zoid, chunk_num))`,
}

// createSchema creates the whole schema in one transaction.
func createSchema(ctx context.Context, conn *pgx.Conn, hp bool) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	// Two front ends starting together on an empty database: the second
	// waits here, then finds the schema made.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(-3)`); err != nil {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('public.object_state') IS NOT NULL`).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	for _, stmt := range tablesDDL(hp) {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("creating schema: %w\n%s", err, stmt)
		}
	}
	for _, f := range functions(hp) {
		if _, err := tx.Exec(ctx, f.create); err != nil {
			return fmt.Errorf("creating function %s: %w", f.name, err)
		}
		// RelStorage keeps the md5 of a function's source in its comment
		// and re-creates functions whose checksum is not its own.
		sum := md5.Sum([]byte(f.create))
		if _, err := tx.Exec(ctx, fmt.Sprintf(`COMMENT ON FUNCTION %s(%s) IS '%s'`, f.name, f.args, hex.EncodeToString(sum[:]))); err != nil {
			return fmt.Errorf("commenting function %s: %w", f.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TRIGGER blob_chunk_delete BEFORE DELETE ON blob_chunk
		FOR EACH ROW EXECUTE PROCEDURE blob_chunk_delete_trigger()`); err != nil {
		return fmt.Errorf("creating trigger blob_chunk_delete: %w", err)
	}
	return tx.Commit(ctx)
}

// checkSchema verifies that the database holds a RelStorage >= 3.5
// schema of the configured history mode and returns an error naming
// what is missing or wrong.
func checkSchema(ctx context.Context, conn *pgx.Conn, hp bool) error {
	tables := map[string]bool{}
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'S')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		tables[n] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if !tables["object_state"] {
		return fmt.Errorf("%w (table object_state is missing); set create-schema true, or create it with RelStorage", ErrNoSchema)
	}
	dbHP := tables["transaction"] && tables["current_object"]
	if dbHP != hp {
		if hp {
			return fmt.Errorf("%w: the database is history-free (no transaction and current_object tables) but keep-history is true", ErrHistoryMode)
		}
		return fmt.Errorf("%w: the database is history-preserving (it has transaction and current_object tables) but keep-history is false", ErrHistoryMode)
	}
	need := []string{"object_state", "blob_chunk", "commit_row_lock", "object_ref", "object_refs_added", "pack_object", "zoid_seq"}
	if hp {
		need = append(need, "transaction", "current_object", "pack_state", "pack_state_tid")
	}
	var missing []string
	for _, n := range need {
		if !tables[n] {
			missing = append(missing, n)
		}
	}
	if hp {
		var isEmpty bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = 'transaction' AND column_name = 'is_empty')`).Scan(&isEmpty); err != nil {
			return err
		}
		if !isEmpty {
			missing = append(missing, "column transaction.is_empty (RelStorage 3.0)")
		}
	}
	funcs := map[string]string{} // name(args) -> source
	rows, err = conn.Query(ctx, `SELECT p.proname || '(' || oidvectortypes(p.proargtypes) || ')', p.prosrc
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var sig, src string
		if err := rows.Scan(&sig, &src); err != nil {
			return err
		}
		funcs[sig] = src
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, f := range functions(hp) {
		if strings.HasSuffix(f.name, "_trigger") {
			continue // blobs only
		}
		sig := f.name + "(" + f.args + ")"
		if _, ok := funcs[sig]; !ok {
			missing = append(missing, "function "+sig)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%w: missing %s (a RelStorage schema older than 3.5, or of another tool); upgrade it by opening the database once with RelStorage >= 3.5", ErrOldSchema, strings.Join(missing, ", "))
	}
	// Before 3.5 the vote locked rows FOR UPDATE; running that protocol
	// beside advisory locks can corrupt data (RelStorage 3.5.0a4 CHANGES).
	if src := funcs["lock_objects_and_detect_conflicts(bigint[], bigint[])"]; !strings.Contains(src, "pg_advisory_xact_lock") {
		return fmt.Errorf("%w: lock_objects_and_detect_conflicts takes no advisory locks (the row-lock protocol of RelStorage before 3.5); upgrade it by opening the database once with RelStorage >= 3.5", ErrOldSchema)
	}
	return nil
}
