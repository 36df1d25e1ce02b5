package pgstorage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Options configure a storage, as a <relstorage> section does.
type Options struct {
	// DSN is a libpq keyword/value string or a postgres:// URL; several
	// hosts with target_session_attrs=read-write find the primary.
	DSN string
	// Name is what get_info reports (RelStorage: the section's name).
	Name string
	// KeepHistory selects the history-preserving schema (RelStorage's
	// default keep-history true).
	KeepHistory bool
	ReadOnly    bool
	// CreateSchema creates the schema in a database without one.
	CreateSchema bool
	// PollInterval is how often the database is polled for commits made
	// by processes that send no NOTIFY (RelStorage applications); 0
	// means 200 ms.
	PollInterval time.Duration
	// CommitLockTimeout bounds the wait for object locks at vote
	// (RelStorage's commit-lock-timeout, default 30 s).
	CommitLockTimeout time.Duration
	// ReadReplicas are DSNs of hot standbys to load from, tried in order
	// (RelStorage's ro-replica-conf); ReplicaTimeout is how long one that
	// failed is left alone (replica-timeout, default 600 s). See replica.go.
	ReadReplicas   []string
	ReplicaTimeout time.Duration
}

// maxSessions bounds the store sessions (transactions between vote and
// finish) of one storage; more wait at Begin.
const maxSessions = 16

// loadConns is the load pool's size unless the DSN sets pool_max_conns.
const loadConns = 16

// notifyChannel is the LISTEN/NOTIFY channel commits are announced on.
const notifyChannel = "zodb_commit"

// Storage is a ZODB storage in a RelStorage PostgreSQL schema.
type Storage struct {
	opts Options
	hp   bool
	pool *pgxpool.Pool // loads, polls, oids, statistics
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	// The commit path: each open transaction has a store session of its
	// own (its temporary tables live there), taken from idle at Begin
	// and given back at Finish or Abort; slots bounds how many exist.
	sessMu sync.Mutex
	idle   []*session
	slots  chan struct{}

	// Delivery: the last tid whose invalidations went out. The server
	// calls PollCommits and Finish under its visibility lock; deliverMu
	// also orders them for direct users.
	deliverMu     sync.Mutex
	lastDelivered atomic.Uint64

	wake atomic.Pointer[func()]

	oidMu   sync.Mutex
	oidFree []storage.OID

	objects, bytes atomic.Int64 // statistics for get_info
	closed         atomic.Bool

	revs *revCache // history-free only: recent states for loadSerial

	namedByDSN bool // the DSN sets application_name: keep it everywhere

	sharedBlobs *BlobStorage // shared-blob-dir true: packs remove blob files

	health health // which node it writes to, reconnects, failovers (failover.go)

	replica *replica // loads from a hot standby, nil without ro-replica-conf (replica.go)
}

// revCacheBytes bounds the history-free revision cache.
const revCacheBytes = 16 << 20

var (
	_ storage.ConcurrentCommitter = (*Storage)(nil)
	_ storage.Storage             = (*Storage)(nil)
	_ storage.Iterator            = (*Storage)(nil)
	_ storage.Undoer              = (*Storage)(nil)
	_ storage.InvalidationSource  = (*Storage)(nil)
	_ storage.CommitFeed          = (*Storage)(nil)
)

// Open connects, creates the schema if asked to and checks it, and
// starts listening for commits made elsewhere.
func Open(ctx context.Context, opts Options) (*Storage, error) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.CommitLockTimeout <= 0 {
		opts.CommitLockTimeout = 30 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgresql dsn: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if opts.CreateSchema && !opts.ReadOnly {
		if err := createSchema(ctx, conn, opts.KeepHistory); err != nil {
			return nil, err
		}
	}
	if err := checkSchema(ctx, conn, opts.KeepHistory); err != nil {
		return nil, err
	}
	if !strings.Contains(opts.DSN, "pool_max_conns") {
		// pgxpool's default (4 on this machine class) would queue the
		// loads of more than four clients; PostgreSQL serves more.
		cfg.MaxConns = loadConns
	}
	namedByDSN := cfg.ConnConfig.RuntimeParams["application_name"] != ""
	if !namedByDSN {
		cfg.ConnConfig.RuntimeParams["application_name"] = "runzeo"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	s := &Storage{opts: opts, hp: opts.KeepHistory, pool: pool, slots: make(chan struct{}, maxSessions), namedByDSN: namedByDSN}
	if len(opts.ReadReplicas) > 0 {
		if opts.ReplicaTimeout <= 0 {
			opts.ReplicaTimeout = 600 * time.Second
		}
		if s.replica, err = openReplica(opts.ReadReplicas, opts.ReplicaTimeout); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if !s.hp {
		s.revs = newRevCache(revCacheBytes)
	}
	var last int64
	if err := pool.QueryRow(ctx, `SELECT COALESCE(MAX(tid), 0) FROM object_state`).Scan(&last); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reading the last tid: %w", err)
	}
	s.lastDelivered.Store(uint64(last))
	s.refreshStats(ctx)
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.listen()
	return s, nil
}

// convErr turns a database failure into the error the server reports.
func convErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &storage.StorageError{Msg: fmt.Sprintf("PostgreSQL %s: %s (SQLSTATE %s)", op, pe.Message, pe.Code)}
	}
	return &storage.StorageError{Msg: fmt.Sprintf("PostgreSQL %s: %v", op, err)}
}

// connConfig is the configuration of a dedicated session; role names it
// in pg_stat_activity (application_name "runzeo store", "runzeo listen")
// unless the DSN sets an application_name.
func (s *Storage) connConfig(role string) *pgx.ConnConfig {
	c := s.pool.Config().ConnConfig.Copy()
	if !s.namedByDSN {
		c.RuntimeParams["application_name"] = "runzeo " + role
	}
	return c
}

// sessionLost tells whether err means the connection itself failed (the
// database restarted, a failover, a network cut) rather than the
// statement: reads are then worth one retry on fresh connections.
func sessionLost(err error) bool {
	if err == nil || errors.Is(err, pgx.ErrNoRows) || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 57P01-57P03: the server is shutting down or restarting; 08xxx:
		// connection exceptions.
		return strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "08")
	}
	return true
}

// retry runs a read, and once more on fresh connections when the first
// try lost its session.
func (s *Storage) retry(read func() error) error {
	err := read()
	if sessionLost(err) && s.ctx.Err() == nil {
		s.pool.Reset() // drop the idle connections of the dead server
		err = read()
	}
	return err
}

// Info reports the storage for get_info.
func (s *Storage) Info() storage.Info {
	name := s.opts.Name
	if name == "" {
		name = "RelStorage on PostgreSQL"
	}
	var ifaces []storage.Interface
	for _, n := range []string{"IStorageRestoreable", "IStorageIteration", "IStorageUndoable", "IExternalGC", "IStorage"} {
		if n == "IStorageUndoable" && !s.hp {
			continue
		}
		ifaces = append(ifaces, storage.Interface{Module: "ZODB.interfaces", Name: n})
	}
	ifaces = append(ifaces, storage.Interface{Module: "zope.interface", Name: "Interface"})
	return storage.Info{Name: name, ReadOnly: s.opts.ReadOnly, SupportsUndo: s.hp, Interfaces: ifaces}
}

// Len and Size are estimates refreshed in the background (a count over
// object_state would cost a scan on every commit's info message).
func (s *Storage) Len() int                 { return int(s.objects.Load()) }
func (s *Storage) Size() int64              { return s.bytes.Load() }
func (s *Storage) LastTransaction() tid.TID { return tid.TID(s.lastDelivered.Load()) }

func (s *Storage) refreshStats(ctx context.Context) {
	table := "object_state"
	if s.hp {
		table = "current_object"
	}
	var n, size int64
	err := s.pool.QueryRow(ctx, `SELECT GREATEST(c.reltuples, 0)::bigint, pg_total_relation_size('object_state')
		FROM pg_class c WHERE c.oid = $1::regclass`, table).Scan(&n, &size)
	if err == nil && n < 100000 {
		// Small (or never analyzed) tables: count exactly, it is cheap.
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	}
	if err == nil {
		s.objects.Store(n)
		s.bytes.Store(size)
	}
}

// Close stops the listener and closes every connection; an open
// transaction is rolled back by the database.
func (s *Storage) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.wg.Wait()
	s.sessMu.Lock()
	for _, ss := range s.idle {
		ss.close()
	}
	s.idle = nil
	s.sessMu.Unlock()
	s.pool.Close()
	if s.replica != nil {
		s.replica.close()
	}
	return nil
}

// LoadBefore returns the newest revision with tid < before and the tid
// of the revision after it (history-preserving: exact). A history-free
// database has only the current revision: older ones give ok false,
// which ZODB's MVCC adapter turns into a retryable ReadConflictError.
func (s *Storage) LoadBefore(oid storage.OID, before tid.TID) ([]byte, tid.TID, tid.TID, bool, error) {
	if data, start, end, ok := s.loadBeforeReplica(oid, before); ok {
		s.revs.put(oid, start, data)
		return data, start, end, true, nil
	}
	ctx := s.ctx
	var data []byte
	var start int64
	var end *int64
	err := s.retry(func() error {
		if s.hp {
			return s.pool.QueryRow(ctx, `SELECT o.state, o.tid,
			(SELECT MIN(n.tid) FROM object_state n WHERE n.zoid = $1 AND n.tid > o.tid)
			FROM object_state o WHERE o.zoid = $1 AND o.tid < $2
			ORDER BY o.tid DESC LIMIT 1`, int64(oid), int64(before)).Scan(&data, &start, &end)
		}
		return s.pool.QueryRow(ctx, `SELECT state, tid, NULL::bigint FROM object_state
			WHERE zoid = $1 AND tid < $2`, int64(oid), int64(before)).Scan(&data, &start, &end)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := s.retry(func() error {
			return s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM object_state WHERE zoid = $1)`, int64(oid)).Scan(&exists)
		}); err != nil {
			return nil, 0, 0, false, convErr("loadBefore", err)
		}
		if !exists {
			return nil, 0, 0, false, &storage.POSKeyError{OID: oid}
		}
		return nil, 0, 0, false, nil
	}
	if err != nil {
		return nil, 0, 0, false, convErr("loadBefore", err)
	}
	if data == nil {
		// A deletion (RelStorage 4.0 deleteObject) or an undone creation.
		return nil, 0, 0, false, &storage.POSKeyError{OID: oid}
	}
	var e tid.TID
	if end != nil {
		e = tid.TID(*end)
	}
	s.revs.put(oid, tid.TID(start), data)
	return data, tid.TID(start), e, true, nil
}

// LoadSerial returns the revision of oid written by serial.
func (s *Storage) LoadSerial(oid storage.OID, serial tid.TID) ([]byte, error) {
	var data []byte
	err := s.retry(func() error {
		return s.pool.QueryRow(s.ctx, `SELECT state FROM object_state WHERE zoid = $1 AND tid = $2`,
			int64(oid), int64(serial)).Scan(&data)
	})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && data == nil) {
		if d, ok := s.revs.get(oid, serial); ok {
			return d, nil
		}
		return nil, &storage.POSKeyError{OID: oid, Serial: &serial}
	}
	if err != nil {
		return nil, convErr("loadSerial", err)
	}
	return data, nil
}

// History lists oid's revisions, newest first. History-free keeps only
// the current one and no transaction metadata.
func (s *Storage) History(oid storage.OID, size int) ([]storage.HistoryEntry, error) {
	if size <= 0 {
		size = 1
	}
	var rows pgx.Rows
	var err error
	if s.hp {
		rows, err = s.pool.Query(s.ctx, `SELECT o.tid, o.state_size, t.username, t.description, t.extension
			FROM object_state o JOIN "transaction" t ON t.tid = o.tid
			WHERE o.zoid = $1 ORDER BY o.tid DESC LIMIT $2`, int64(oid), size)
	} else {
		rows, err = s.pool.Query(s.ctx, `SELECT tid, state_size, ''::bytea, ''::bytea, NULL::bytea
			FROM object_state WHERE zoid = $1`, int64(oid))
	}
	if err != nil {
		return nil, convErr("history", err)
	}
	var out []storage.HistoryEntry
	for rows.Next() {
		var t, n int64
		var user, desc, ext []byte
		if err := rows.Scan(&t, &n, &user, &desc, &ext); err != nil {
			return nil, convErr("history", err)
		}
		out = append(out, storage.HistoryEntry{TID: tid.TID(t), Time: tid.TID(t).TimeTime(),
			User: user, Description: desc, Size: int(n), Extension: storage.ExtensionItems(ext)})
	}
	if err := rows.Err(); err != nil {
		return nil, convErr("history", err)
	}
	if len(out) == 0 {
		return nil, &storage.POSKeyError{OID: oid}
	}
	return out, nil
}

// NewOID hands out oids from zoid_seq, shared with RelStorage: value n
// of the sequence stands for oids n*16 down to n*16-15 (RelStorage 4.2
// adapters/oidallocator.py), so oid 0 (the root) is never handed out.
func (s *Storage) NewOID() (storage.OID, error) {
	if s.opts.ReadOnly {
		return 0, storage.ErrReadOnly
	}
	s.oidMu.Lock()
	defer s.oidMu.Unlock()
	if len(s.oidFree) == 0 {
		var n int64
		if err := s.retry(func() error {
			return s.pool.QueryRow(s.ctx, `SELECT nextval('zoid_seq')`).Scan(&n)
		}); err != nil {
			return 0, convErr("new_oids", err)
		}
		for o := n * 16; o > n*16-16; o-- {
			s.oidFree = append(s.oidFree, storage.OID(o))
		}
	}
	o := s.oidFree[0]
	s.oidFree = s.oidFree[1:]
	return o, nil
}
