package server

import (
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Options configure a Server (the <zeo> section of ZEO 6.0's server.xml).
type Options struct {
	// ReadOnly makes every connection read-only.
	ReadOnly bool
	// InvalidationQueueSize is the number of recent transactions kept for
	// getInvalidations; 0 means ZEO's default of 100.
	InvalidationQueueSize int
	// InvalidationAge lets getInvalidations answer for a tid older than
	// the queue by iterating the storage, when the tid is younger than
	// this (ZEO's invalidation-age; 0 = unset).
	InvalidationAge time.Duration
	// TransactionTimeout aborts a transaction that holds the commit lock
	// longer than this, releases the lock and closes the connection. 0 = none.
	TransactionTimeout time.Duration
	// TransactionTimeoutText, when set, is the timeout as Python's
	// StorageServer prints it in "Transaction timeout after %s seconds":
	// runzeo -t gives a float ("2.0", see PyFloatRepr), the config key
	// transaction-timeout an integer ("2", the default rendering).
	TransactionTimeoutText string
	// StorageOrder, when it names exactly the served storages, is their
	// order in the configuration: Python's StorageServer keeps the config's
	// dict order in its "created ... with storages" line and when closing.
	// Unset (or not matching), names are sorted.
	StorageOrder []string
	// Msgpack announces "M5" instead of "Z5".
	Msgpack bool
	// MaxFrame caps one incoming frame (0: wire.DefaultMaxFrame).
	MaxFrame int
	// MaxPendingStores caps the stores (and checkCurrentSerialInTransaction
	// calls) one transaction buffers before its vote; the vote of a
	// transaction over it fails with StorageTransactionError and the
	// transaction is aborted. 0: DefaultMaxPendingStores;
	// negative: no limit.
	MaxPendingStores int
	// MaxConnections caps the open client connections; one accepted over
	// it is closed at once with a log line. 0:
	// DefaultMaxConnections; negative: no limit.
	MaxConnections int
	// HandshakeTimeout drops a connection that has not completed its
	// handshake (TLS, then the protocol frame) within it. 0:
	// DefaultHandshakeTimeout; negative: none.
	HandshakeTimeout time.Duration
	// FrameTimeout drops a connection that has started a frame and not
	// sent the rest within it: a peer announcing a large frame and
	// sending part of it would otherwise hold the buffer for ever. An
	// idle connection between frames is not affected. 0:
	// DefaultFrameTimeout; negative: none.
	FrameTimeout time.Duration
	// RegisterTimeout drops a connection that has not registered (called
	// register) within it after its handshake. 0: DefaultRegisterTimeout;
	// negative: none.
	RegisterTimeout time.Duration
	// MaxUnregistered is the share of the connections that may wait to
	// register: past it, or past MaxConnections, a new connection closes
	// the oldest one that has waited registerGrace, so idle unregistered
	// connections cannot lock registering clients out. 0: half of
	// MaxConnections (500 without a connection limit); negative: no
	// share but MaxConnections.
	MaxUnregistered int
	// FrameMemory is what connections may spend at once reading and
	// decoding frames over 1 MiB (conn.readFrame): past it a connection
	// waits before reading its frame. It is raised to the cost of one
	// MaxFrame frame. 0: DefaultFrameMemory.
	FrameMemory int64
	// TxnMemory is how many bytes of store data one transaction keeps
	// in memory until its vote; the rest is spooled to a temporary file
	// in SpoolDir (spool.go). 0: DefaultTxnMemory; negative: spool every
	// store, as ZEO 6.0's CommitLog does.
	TxnMemory int64
	// TotalTxnMemory caps the store data all transactions together keep
	// in memory; past it they spool. 0: DefaultTotalTxnMemory; negative:
	// spool every store.
	TotalTxnMemory int64
	// MaxTxnSize fails the vote of a transaction with more bytes of
	// store data than this with a StorageTransactionError. 0: no limit.
	MaxTxnSize int64
	// SpoolDir holds the spool files ("" : the system's temporary
	// directory); runzeo uses the directory of the first FileStorage.
	SpoolDir string
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// NoGroupCommit makes every transaction take the storage-wide commit
	// lock from vote to tpc_finish, as stock ZEO does, even on a storage
	// that can commit in groups (for comparisons).
	NoGroupCommit bool
	// Log receives the server's log records (nil: discarded). name is the
	// Python logger name the line would carry (ZEO.StorageServer, ...).
	Log func(level Level, name, msg string)
}

// Defaults of the limits on hostile or broken peers: high enough for real use.
const (
	DefaultMaxPendingStores = 100000
	DefaultMaxConnections   = 1000
	DefaultHandshakeTimeout = 60 * time.Second
	DefaultFrameTimeout     = 60 * time.Second
	DefaultRegisterTimeout  = 60 * time.Second
)

// limitDefault maps an Options limit to the one in force: 0 is the
// default, a negative value no limit (returned as 0).
func limitDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// Level is a log record's severity (Python logging's levels).
type Level int

const (
	LevelDebug    Level = 10
	LevelInfo     Level = 20
	LevelWarning  Level = 30
	LevelError    Level = 40
	LevelCritical Level = 50
)

// Server is a ZEO StorageServer.
type Server struct {
	opts    Options
	stores  map[string]*store
	names   []string
	started time.Time
	log     *logger

	mu        sync.Mutex
	listeners map[net.Listener]bool
	conns     map[*conn]bool
	unreg     []*conn       // not registered yet, oldest first
	grace     time.Duration // registerGrace when the server was made
	refused   refusalLog
	closed    bool
	wg        sync.WaitGroup

	observer atomic.Pointer[observerBox] // SetObserver (observe.go)

	txnMemory atomic.Int64 // store data transactions hold in memory (spool.go)
	// frameMemory is what connections may spend at once reading and
	// decoding frames over gatedFrame (conn.readFrame).
	frameMemory *semaphore.Weighted
}

// New creates a server for the named storages.
func New(storages map[string]storage.Storage, opts Options) (*Server, error) {
	if len(storages) == 0 {
		return nil, errors.New("zeo server: no storages")
	}
	if opts.InvalidationQueueSize <= 0 {
		opts.InvalidationQueueSize = 100
	}
	opts.MaxPendingStores = limitDefault(opts.MaxPendingStores, DefaultMaxPendingStores)
	opts.MaxConnections = limitDefault(opts.MaxConnections, DefaultMaxConnections)
	opts.HandshakeTimeout = limitDefault(opts.HandshakeTimeout, DefaultHandshakeTimeout)
	opts.FrameTimeout = limitDefault(opts.FrameTimeout, DefaultFrameTimeout)
	opts.RegisterTimeout = limitDefault(opts.RegisterTimeout, DefaultRegisterTimeout)
	if opts.TxnMemory == 0 {
		opts.TxnMemory = DefaultTxnMemory
	}
	if opts.TotalTxnMemory == 0 {
		opts.TotalTxnMemory = DefaultTotalTxnMemory
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	removeStaleSpools(opts.SpoolDir)
	if opts.MaxUnregistered < 0 {
		opts.MaxUnregistered = math.MaxInt
	}
	if opts.MaxUnregistered == 0 {
		opts.MaxUnregistered = 500
		if opts.MaxConnections > 0 {
			opts.MaxUnregistered = max(opts.MaxConnections/2, 1)
		}
	}
	s := &Server{
		opts:      opts,
		stores:    map[string]*store{},
		started:   time.Now(),
		log:       newLogger(opts.Log),
		listeners: map[net.Listener]bool{},
		conns:     map[*conn]bool{},
	}
	maxFrame := opts.MaxFrame
	if maxFrame <= 0 {
		maxFrame = wire.DefaultMaxFrame
	}
	fm := opts.FrameMemory
	if fm <= 0 {
		fm = DefaultFrameMemory
	}
	s.frameMemory = semaphore.NewWeighted(max(fm, frameCost(maxFrame)))
	s.grace, s.refused.interval = registerGrace, refusalInterval
	var desc []string
	for name, st := range storages {
		ro := opts.ReadOnly || st.Info().ReadOnly
		ss := &store{srv: s, name: name, st: st, readOnly: ro, conns: map[*conn]bool{},
			shared: map[*ztxn]bool{}, oidOwner: map[storage.OID]*ztxn{}}
		_, ss.concurrent = st.(storage.ConcurrentCommitter)
		if gc, ok := st.(storage.GroupCommitter); ok && !ro && !opts.NoGroupCommit {
			ss.group = gc
			ss.gsig = make(chan struct{}, 1)
			ss.gdone = make(chan struct{})
			ss.gwg.Add(1)
			go ss.committer()
		}
		if src, ok := st.(storage.InvalidationSource); ok {
			invs, err := src.LastInvalidations(opts.InvalidationQueueSize)
			if err != nil {
				return nil, fmt.Errorf("zeo server: seeding invalidation queue of %q: %w", name, err)
			}
			ss.invq = invs
		}
		if feed, ok := st.(storage.CommitFeed); ok {
			// After seeding: the follower appends to the queue.
			ss.startFeed(feed)
		}
		s.stores[name] = ss
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
	s.useConfigOrder(opts.StorageOrder)
	s.attachStorageLogs()
	s.attachRelays()
	// Seeding the invalidation queues reads the tail of each storage (for
	// a FileStorage, the last 100 transactions' headers): transient
	// garbage of the order of the index itself. Return it to the OS now;
	// otherwise a server that then mostly serves loads keeps it resident
	// for minutes (our target: 1M objects in 32 MB; measured 28.5
	// MiB without this, 18 with it).
	debug.FreeOSMemory()
	for _, n := range s.names {
		mode := "RW"
		if s.stores[n].readOnly {
			mode = "RO"
		}
		desc = append(desc, fmt.Sprintf("%s:%s:%s", n, mode, s.stores[n].st.Info().Name))
	}
	mode := "RW"
	if opts.ReadOnly {
		mode = "RO"
	}
	s.log.info("ZEO.StorageServer", "StorageServer created %s with storages: %s", mode, strings.Join(desc, ", "))
	return s, nil
}

// Serve accepts connections on l until l is closed or the server is
// closed. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var tempDelay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			// EMFILE and friends: back off instead of spinning.
			s.log.warning("ZEO.asyncio.server", "accept failed: %v", err)
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		if s.opts.TLS != nil {
			nc = tls.Server(nc, s.opts.TLS)
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		// Connection limit: each connection costs goroutines, buffers
		// and a file descriptor, so past the limit a new one is closed
		// before the server says anything; the client sees EOF and
		// retries later. ZEO has no such limit. Connections that have
		// waited registerGrace without registering give way: the oldest
		// is closed to make room, so a flood of idle ones cannot lock
		// real clients out, while a burst of clients connecting at once
		// (after a restart) is not cut short.
		max := s.opts.MaxConnections
		full := max > 0 && len(s.conns) >= max
		if full || len(s.unreg) >= s.opts.MaxUnregistered {
			if len(s.unreg) > 0 && time.Since(s.unreg[0].accepted) >= s.grace {
				victim := s.unreg[0]
				s.unreg = s.unreg[1:]
				why := fmt.Sprintf("%d unregistered connections open (max-unregistered-connections %d)", len(s.unreg)+1, s.opts.MaxUnregistered)
				if full {
					why = fmt.Sprintf("%d connections open (max-connections %d)", max, max)
				}
				s.mu.Unlock()
				s.refused.note(s.log, fmt.Sprintf("closed unregistered connection from %s to make room: %s", victim.nc.RemoteAddr(), why))
				victim.close()
				s.mu.Lock()
			} else if full {
				s.mu.Unlock()
				s.refused.note(s.log, fmt.Sprintf("refused connection from %s: %d connections open (max-connections %d)", nc.RemoteAddr(), max, max))
				nc.Close()
				continue
			}
		}
		s.conns[c] = true
		s.unreg = append(s.unreg, c)
		s.wg.Add(1)
		s.mu.Unlock()
		go c.serve()
	}
}

// Close stops the listeners, closes every connection (aborting their
// transactions) and closes the storages.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.refused.stop()
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
	for _, n := range s.names {
		s.stores[n].stopCommitter()
		s.stores[n].stopFeed()
	}
	var first error
	for _, n := range s.names {
		s.log.info("ZEO.StorageServer", "closing storage %s", pyQuote(n))
		if err := s.stores[n].st.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.dropUnregLocked(c)
	s.mu.Unlock()
	s.wg.Done()
}

// registered takes c off the unregistered list (it registered).
func (s *Server) registered(c *conn) {
	s.mu.Lock()
	s.dropUnregLocked(c)
	s.mu.Unlock()
}

func (s *Server) dropUnregLocked(c *conn) {
	for i, u := range s.unreg {
		if u == c {
			s.unreg = append(s.unreg[:i], s.unreg[i+1:]...)
			return
		}
	}
}

// registerGrace is how long a connection may wait to register before
// a new one can close it to make room: registering takes a client
// milliseconds, even a thousand of them reconnecting at once.
var registerGrace = 5 * time.Second

// refusalInterval is how often refused connections are logged: the
// first one of an interval in full, the others counted in one summary
// line when the interval ends (a flood of connections logged 45,000
// lines in 10 s).
var refusalInterval = 10 * time.Second

// refusalLog rate-limits the log lines about refused connections.
type refusalLog struct {
	interval   time.Duration
	mu         sync.Mutex
	until      time.Time
	suppressed int
	timer      *time.Timer
}

// stop drops a pending summary line (the server is closing).
func (r *refusalLog) stop() {
	r.mu.Lock()
	if r.timer != nil {
		r.timer.Stop()
	}
	r.mu.Unlock()
}

func (r *refusalLog) note(log *logger, line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.After(r.until) && r.timer == nil {
		r.until = now.Add(r.interval)
		log.warning("ZEO.asyncio.server", "%s", line)
		return
	}
	r.suppressed++
	if r.timer == nil {
		r.timer = time.AfterFunc(time.Until(r.until), func() {
			r.mu.Lock()
			n := r.suppressed
			r.suppressed, r.timer = 0, nil
			r.until = time.Now().Add(r.interval)
			r.mu.Unlock()
			log.warning("ZEO.asyncio.server", "%d more connections refused or closed to make room in the last %v (the first is logged above)", n, r.interval)
		})
	}
}

// Status returns the server_status dict of one storage.
func (s *Server) Status(name string) (*wire.Dict, bool) {
	st, ok := s.stores[name]
	if !ok {
		return nil, false
	}
	return st.status(), true
}

// RuokJSON is the JSON report the "ruok" probe gets:
// {storage_id: server_status-dict, ...} (ZEO 6.0 ServerProtocol's ruok answer).
func (s *Server) RuokJSON() []byte {
	var sb strings.Builder
	sb.WriteString("{")
	for i, n := range s.names {
		if i > 0 {
			sb.WriteString(", ")
		}
		k, _ := json.Marshal(n)
		sb.Write(k)
		sb.WriteString(": ")
		writeJSON(&sb, s.stores[n].status())
	}
	sb.WriteString("}")
	return []byte(sb.String())
}

// writeJSON renders a status dict like Python's json.dumps (", " and ": "
// separators, insertion order, ASCII only).
func writeJSON(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		sb.WriteString("null")
	case bool:
		if x {
			sb.WriteString("true")
		} else {
			sb.WriteString("false")
		}
	case int64:
		fmt.Fprintf(sb, "%d", x)
	case float64:
		b, _ := json.Marshal(x)
		sb.Write(b)
	case string:
		var out strings.Builder
		out.WriteByte('"')
		for _, r := range x {
			switch {
			case r == '"' || r == '\\':
				out.WriteByte('\\')
				out.WriteRune(r)
			case r < 0x20 || r > 0x7e:
				if r > 0xffff {
					r -= 0x10000
					fmt.Fprintf(&out, "\\u%04x\\u%04x", 0xd800+(r>>10), 0xdc00+(r&0x3ff))
				} else {
					fmt.Fprintf(&out, "\\u%04x", r)
				}
			default:
				out.WriteRune(r)
			}
		}
		out.WriteByte('"')
		sb.WriteString(out.String())
	case *wire.Dict:
		sb.WriteString("{")
		for i, it := range x.Items {
			if i > 0 {
				sb.WriteString(", ")
			}
			k, _ := wire.AsString(it.Key)
			writeJSON(sb, k)
			sb.WriteString(": ")
			writeJSON(sb, it.Value)
		}
		sb.WriteString("}")
	default:
		writeJSON(sb, fmt.Sprint(x))
	}
}

// store is the server-side state of one served storage.
type store struct {
	srv      *Server
	name     string
	st       storage.Storage
	readOnly bool

	// vis orders load replies against invalidations (docs/design/commit.md,
	// "Ordering", rule 3): shared for loads/register/getInvalidations, exclusive for
	// the tpc_finish step. invq (newest last) is guarded by it.
	vis  sync.RWMutex
	invq []storage.Invalidation

	connsMu sync.Mutex
	conns   map[*conn]bool // registered connections: the fan-out set

	// Commit locks (docs/design/commit.md, "Locks"). A transaction holds either the
	// storage-wide lock (holder: stock ZEO's commit lock, taken by every
	// transaction unless group commit applies) or, on a GroupCommitter,
	// locks on the objects it writes or checks (shared, oidOwner), so that
	// transactions on different objects vote and finish concurrently and
	// become durable together (group commit). Waiters queue FIFO; nothing
	// passes a waiting storage-wide transaction.
	lockMu   sync.Mutex
	holder   *ztxn
	shared   map[*ztxn]bool
	oidOwner map[storage.OID]*ztxn
	lockTime time.Time
	waiters  []*ztxn

	// Group commit: vote writes the transaction, tpc_finish queues its
	// reply in gq; whoever drives (store.drive: the reader of the
	// connection that voted or finished, else the committer goroutine)
	// makes each batch durable, then publishes it.
	group storage.GroupCommitter
	// driving: someone (a connection's reader after its vote or
	// tpc_finish, or the committer goroutine) runs commitRound; the
	// others leave the work to it.
	driving atomic.Bool
	kicked  atomic.Bool // see workArrived
	gqMu    sync.Mutex
	gq      []*finished
	gsig    chan struct{}
	gdone   chan struct{}
	gwg     sync.WaitGroup

	// concurrent: the storage locks objects itself
	// (storage.ConcurrentCommitter); votes take no server lock.
	concurrent bool

	// Commits made elsewhere on a shared storage (feed.go).
	feed     storage.CommitFeed
	feedWake chan struct{}
	feedDone chan struct{}
	feedWG   sync.WaitGroup

	loads, stores, commits, aborts, conflicts, activeTxns atomic.Int64
}

// acquire gives t its lock (the storage-wide one, or its objects' when
// t.shared) now and returns true, or queues it; a queued transaction's
// grant func runs in a new goroutine when the lock is handed to it.
func (st *store) acquire(t *ztxn, grant func()) bool {
	st.lockMu.Lock()
	if st.holder != nil && st.holder.conn.isClosed() {
		// Python: "Still locked after disconnected. Unlocking." Our
		// disconnect cleanup normally releases first; this is a safety net.
		st.srv.log.critical("ZEO.StorageServer", "(%s) Still locked after disconnected. Unlocking.", st.name)
		st.holder = nil
	}
	t.grant = grant
	st.waiters = append(st.waiters, t)
	ready := st.grantLocked()
	n := len(st.waiters)
	st.lockMu.Unlock()
	self := false
	for _, w := range ready {
		if w == t {
			self = true
		} else {
			go w.grant()
		}
	}
	if self {
		return true
	}
	msg := fmt.Sprintf("(%s) queue lock: transactions waiting: %d", st.name, n)
	switch {
	case n > 9:
		st.srv.log.critical("ZEO.StorageServer", "%s", msg)
	case n > 3:
		st.srv.log.warning("ZEO.StorageServer", "%s", msg)
	default:
		st.srv.log.debug("ZEO.StorageServer", "%s", msg)
	}
	return false
}

func (st *store) canGrantLocked(t *ztxn) bool {
	if st.holder != nil {
		return false
	}
	if !t.shared {
		return len(st.shared) == 0
	}
	for _, o := range t.lockOIDs {
		if w := st.oidOwner[o]; w != nil && w != t {
			return false
		}
	}
	return true
}

// grantLocked hands locks to the waiters that can have them, in FIFO
// order, stopping at a storage-wide waiter that cannot (so it is not
// starved by a stream of object-lock transactions).
func (st *store) grantLocked() []*ztxn {
	var ready []*ztxn
	kept := st.waiters[:0]
	blocked := false
	for _, w := range st.waiters {
		if !blocked && st.canGrantLocked(w) {
			if st.holder == nil && len(st.shared) == 0 {
				st.lockTime = time.Now()
			}
			if w.shared {
				st.shared[w] = true
				for _, o := range w.lockOIDs {
					st.oidOwner[o] = w
				}
			} else {
				st.holder = w
			}
			ready = append(ready, w)
			continue
		}
		if !w.shared {
			blocked = true
		}
		kept = append(kept, w)
	}
	clear(st.waiters[len(kept):])
	st.waiters = kept
	return ready
}

// lockMore adds oids to a shared transaction's locks (a store added
// while it resolved conflicts); false when another transaction has one.
func (st *store) lockMore(t *ztxn, oids []storage.OID) bool {
	st.lockMu.Lock()
	defer st.lockMu.Unlock()
	for _, o := range oids {
		if w := st.oidOwner[o]; w != nil && w != t {
			return false
		}
	}
	for _, o := range oids {
		if st.oidOwner[o] == nil {
			st.oidOwner[o] = t
			t.lockOIDs = append(t.lockOIDs, o)
		}
	}
	return true
}

// release frees t's lock, or drops t from the wait queue, and hands
// locks to the waiters that can now have them.
func (st *store) release(t *ztxn) {
	st.lockMu.Lock()
	switch {
	case st.holder == t:
		st.holder = nil
	case st.shared[t]:
		delete(st.shared, t)
		for _, o := range t.lockOIDs {
			if st.oidOwner[o] == t {
				delete(st.oidOwner, o)
			}
		}
	default:
		for i, w := range st.waiters {
			if w == t {
				st.waiters = append(st.waiters[:i], st.waiters[i+1:]...)
				break
			}
		}
	}
	ready := st.grantLocked()
	st.lockMu.Unlock()
	for _, w := range ready {
		go w.grant()
	}
}

// finished is a transaction committed through the group, waiting to be
// durable before its invalidations and tpc_finish reply go out.
type finished struct {
	conn  *conn
	msgID any
	tid   tid.TID
	oids  []storage.OID
	voted time.Time // first vote, for Observer.Commit
}

// finishAndEnqueue marks a transaction written at vote as finished and
// queues its reply, in one step under gqMu (see commitRound).
func (st *store) finishAndEnqueue(f *finished) error {
	st.gqMu.Lock()
	err := st.group.FinishGroup(f.tid)
	if err == nil {
		st.gq = append(st.gq, f)
	}
	st.gqMu.Unlock()
	st.workArrived()
	return err
}

// Rounds of commitRound a connection's reader runs before it hands the
// rest to the committer goroutine: its own data fsync or batch, and one
// more (under a steady stream of commits from other clients, a reader
// must not stay the committer for ever while its own client waits).
const driveRoundsReader = 2

// drive runs commit rounds while there is work, at most rounds of them
// (0: no limit), unless someone else is driving: that one sees work that
// arrives meanwhile (workArrived) before it stops. Transactions held
// back by an unresolved earlier one are not work: its resolution is.
func (st *store) drive(rounds int) {
	for {
		if !st.driving.CompareAndSwap(false, true) {
			return
		}
		more := true
		for i := 0; more && (rounds == 0 || i < rounds); i++ {
			st.kicked.Store(false)
			more = st.commitRound()
		}
		st.driving.Store(false)
		if !more && !st.kicked.Load() {
			return
		}
		if rounds != 0 {
			st.signalCommitter()
			return
		}
	}
}

// workArrived notes work for the group committer: a transaction written
// (its data can be synced), finished or aborted.
func (st *store) workArrived() { st.kicked.Store(true) }

// signalCommitter wakes the committer: a transaction was written (its
// data fsync can start), finished, or aborted (the finished ones after
// it can go).
func (st *store) signalCommitter() {
	st.workArrived()
	select {
	case st.gsig <- struct{}{}:
	default:
	}
}

// committer makes batches durable (the storage's two fsyncs once per
// batch, the first of them usually done already by SyncGroupData since
// the vote), then, under the exclusive visibility lock, publishes them
// and queues each transaction's invalidations, info and reply in tid
// order (docs/design/commit.md, "Ordering", rules 1-3). Transactions finished
// while a batch syncs form the next batch. With nothing finished it
// fsyncs the data of the transactions written at vote.
func (st *store) committer() {
	defer st.gwg.Done()
	for {
		select {
		case <-st.gsig:
			st.drive(0)
		case <-st.gdone:
			for !st.driving.CompareAndSwap(false, true) {
				time.Sleep(time.Millisecond)
			}
			for st.commitRound() {
			}
			return
		}
	}
}

// commitRound makes the finished transactions durable and answers them,
// or, with none finished, fsyncs the data written at vote. It reports
// whether there may be more to do.
func (st *store) commitRound() bool {
	st.gqMu.Lock()
	queued := len(st.gq)
	st.gqMu.Unlock()
	if queued == 0 {
		if err := st.group.SyncGroupData(); err != nil {
			st.srv.log.critical("ZEO.StorageServer", "(%s) group commit failed: %v", st.name, err)
		}
		st.gqMu.Lock()
		queued = len(st.gq)
		st.gqMu.Unlock()
		if queued == 0 {
			return false
		}
	}
	syncStart := st.srv.obsStart()
	durable, err := st.group.SyncGroup()
	// The batch is taken after the sync: a transaction is finished
	// and queued under gqMu in one step, so every transaction the
	// sync made durable is in the queue now and goes out in this
	// batch, in tid order with the others.
	st.gqMu.Lock()
	batch := st.gq
	st.gq = nil
	if err == nil {
		// Finishes arrive in any order; tids were assigned at vote. A
		// transaction written before some of these and not yet
		// finished or aborted holds them back (status bytes flip in
		// file order): they wait for the next signal.
		slices.SortFunc(batch, func(a, b *finished) int { return cmp.Compare(a.tid, b.tid) })
		n := 0
		for n < len(batch) && batch[n].tid <= durable {
			n++
		}
		st.gq = append(st.gq, batch[n:]...)
		batch = batch[:n]
	}
	st.gqMu.Unlock()
	if err != nil {
		// Python closes a storage whose tpc_finish failed; the group
		// refuses further commits and nobody is told "committed".
		st.srv.log.critical("ZEO.StorageServer", "(%s) group commit failed: %v", st.name, err)
	}
	if len(batch) == 0 {
		return false // held back: the resolution of the earlier one signals
	}
	if err == nil {
		st.observeSync(syncStart, len(batch))
	}
	st.vis.Lock()
	if err == nil {
		st.group.PublishGroup(batch[len(batch)-1].tid)
	}
	info := wire.Tuple{st.infoDict()}
	for _, f := range batch {
		if err != nil {
			f.conn.reply(f.msgID, nil, err)
			continue
		}
		st.publish(f.conn, f.tid, f.oids)
		f.conn.callAsync("info", info)
		st.observeCommit(f.voted)
		f.conn.reply(f.msgID, storage.TIDBytes(f.tid), nil)
	}
	st.vis.Unlock()
	if err == nil {
		st.commits.Add(int64(len(batch)))
	}
	return true
}

func (st *store) stopCommitter() {
	if st.gdone != nil {
		close(st.gdone)
		st.gwg.Wait()
	}
}

func (st *store) register(c *conn) {
	st.connsMu.Lock()
	st.conns[c] = true
	st.connsMu.Unlock()
}

func (st *store) unregister(c *conn) {
	st.connsMu.Lock()
	delete(st.conns, c)
	st.connsMu.Unlock()
}

func (st *store) connections() int {
	st.connsMu.Lock()
	defer st.connsMu.Unlock()
	return len(st.conns)
}

// publish runs with vis held exclusively: queue the invalidation for every
// other registered connection and remember it for getInvalidations.
func (st *store) publish(committer *conn, t tid.TID, oids []storage.OID) {
	st.invq = append(st.invq, storage.Invalidation{TID: t, OIDs: oids})
	if n := st.srv.opts.InvalidationQueueSize; len(st.invq) > n {
		st.invq = append([]storage.Invalidation(nil), st.invq[len(st.invq)-n:]...)
	}
	list := make(wire.List, len(oids))
	for i, o := range oids {
		list[i] = o.Bytes()
	}
	msg := wire.Message{ID: int64(0), Flags: true, Method: "invalidateTransaction",
		Args: wire.Tuple{storage.TIDBytes(t), list}}
	// Encode once per marshalling, not once per connection: with N
	// clients every commit fans out N-1 of these (seen in commit profiles).
	var encoded [2][]byte
	st.connsMu.Lock()
	defer st.connsMu.Unlock()
	for c := range st.conns {
		if c == committer {
			continue
		}
		k := 0
		if c.enc == wire.Msgpack {
			k = 1
		}
		if encoded[k] == nil {
			b, err := c.enc.Encode(msg)
			if err != nil {
				c.send(msg) // logs and reports the error
				continue
			}
			encoded[k] = b
		}
		c.enqueue(encoded[k])
	}
}

func (st *store) infoDict() *wire.Dict {
	return wire.NewDict("length", int64(st.st.Len()), "size", st.st.Size())
}

// broadcastInfo sends info({'length','size'}) to every client (after pack).
func (st *store) broadcastInfo() {
	args := wire.Tuple{st.infoDict()}
	st.connsMu.Lock()
	defer st.connsMu.Unlock()
	for c := range st.conns {
		c.callAsync("info", args)
	}
}

func (st *store) status() *wire.Dict {
	st.lockMu.Lock()
	var lockTime any
	if st.holder != nil || len(st.shared) > 0 {
		lockTime = float64(st.lockTime.UnixNano()) / 1e9
	}
	waiting := int64(len(st.waiters))
	st.lockMu.Unlock()
	var timeoutAlive any = "stub"
	if st.srv.opts.TransactionTimeout > 0 {
		timeoutAlive = true
	}
	d := wire.NewDict(
		"connections", int64(st.connections()),
		"loads", st.loads.Load(),
		"stores", st.stores.Load(),
		"commits", st.commits.Load(),
		"aborts", st.aborts.Load(),
		"active_txns", st.activeTxns.Load(),
		"lock_time", lockTime,
		"conflicts", st.conflicts.Load(),
		"conflicts_resolved", int64(0), // never incremented in ZEO 5/6 either
		"start", st.srv.started.Format("Mon Jan _2 15:04:05 2006"),
		"waiting", waiting,
		"timeout-thread-is-alive", timeoutAlive,
		"last-transaction", st.st.LastTransaction().Hex(),
	)
	if h, ok := st.st.(storage.Health); ok {
		// A database-backed storage (not in ZEO 6, whose storages are
		// local): whether it has a writable database, and where.
		r := h.Health()
		d.Set("database-ok", r.OK)
		d.Set("database-write-node", r.WriteNode)
		d.Set("database-read-node", r.ReadNode)
		d.Set("database-reconnects", r.Reconnects)
		d.Set("database-failovers", r.Failovers)
		d.Set("database-replica-lag", r.ReplicaLag)
		d.Set("database-error", r.LastError)
	}
	return d
}

// logger wraps Options.Log (nil = discard).
type logger struct {
	f func(Level, string, string)
}

func newLogger(f func(Level, string, string)) *logger { return &logger{f} }

func (g *logger) logf(level Level, name, format string, a ...any) {
	if g.f == nil {
		return
	}
	g.f(level, name, fmt.Sprintf(format, a...))
}
func (g *logger) debug(name, f string, a ...any)    { g.logf(LevelDebug, name, f, a...) }
func (g *logger) info(name, f string, a ...any)     { g.logf(LevelInfo, name, f, a...) }
func (g *logger) warning(name, f string, a ...any)  { g.logf(LevelWarning, name, f, a...) }
func (g *logger) error(name, f string, a ...any)    { g.logf(LevelError, name, f, a...) }
func (g *logger) critical(name, f string, a ...any) { g.logf(LevelCritical, name, f, a...) }

// pyQuote renders a str like Python's repr for log lines ('1').
func pyQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }
