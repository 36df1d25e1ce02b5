package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Options configure a Server (the <zeo> section, zeo-protocol.md §6.1).
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
	// Msgpack announces "M5" instead of "Z5".
	Msgpack bool
	// MaxFrame caps one incoming frame (0: wire.DefaultMaxFrame).
	MaxFrame int
	// TLS, when set, wraps every accepted connection.
	TLS *tls.Config
	// Log receives the server's log records (nil: discarded). name is the
	// Python logger name the line would carry (ZEO.StorageServer, ...).
	Log func(level Level, name, msg string)
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
	closed    bool
	wg        sync.WaitGroup
}

// New creates a server for the named storages.
func New(storages map[string]storage.Storage, opts Options) (*Server, error) {
	if len(storages) == 0 {
		return nil, errors.New("zeo server: no storages")
	}
	if opts.InvalidationQueueSize <= 0 {
		opts.InvalidationQueueSize = 100
	}
	s := &Server{
		opts:      opts,
		stores:    map[string]*store{},
		started:   time.Now(),
		log:       newLogger(opts.Log),
		listeners: map[net.Listener]bool{},
		conns:     map[*conn]bool{},
	}
	var desc []string
	for name, st := range storages {
		ro := opts.ReadOnly || st.Info().ReadOnly
		ss := &store{srv: s, name: name, st: st, readOnly: ro, conns: map[*conn]bool{}}
		if src, ok := st.(storage.InvalidationSource); ok {
			invs, err := src.LastInvalidations(opts.InvalidationQueueSize)
			if err != nil {
				return nil, fmt.Errorf("zeo server: seeding invalidation queue of %q: %w", name, err)
			}
			ss.invq = invs
		}
		s.stores[name] = ss
		s.names = append(s.names, name)
	}
	sort.Strings(s.names)
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
		s.conns[c] = true
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
	s.mu.Unlock()
	s.wg.Done()
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
// {storage_id: server_status-dict, ...} (zeo-protocol.md §7.2).
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

	// vis orders load replies against invalidations (zeo-protocol.md §5.1
	// rule 3): shared for loads/register/getInvalidations, exclusive for
	// the tpc_finish step. invq (newest last) is guarded by it.
	vis  sync.RWMutex
	invq []storage.Invalidation

	connsMu sync.Mutex
	conns   map[*conn]bool // registered connections: the fan-out set

	// commit lock
	lockMu   sync.Mutex
	holder   *ztxn
	lockTime time.Time
	waiters  []*ztxn

	loads, stores, commits, aborts, conflicts, activeTxns atomic.Int64
}

// acquire gives the commit lock to t now (returns true) or queues it; a
// queued transaction's grant func runs in a new goroutine when the lock is
// handed to it.
func (st *store) acquire(t *ztxn, grant func()) bool {
	st.lockMu.Lock()
	defer st.lockMu.Unlock()
	if st.holder == nil {
		st.holder = t
		st.lockTime = time.Now()
		return true
	}
	if st.holder.conn.isClosed() {
		// Python: "Still locked after disconnected. Unlocking." Our
		// disconnect cleanup normally releases first; this is a safety net.
		st.srv.log.critical("ZEO.StorageServer", "(%s) Still locked after disconnected. Unlocking.", st.name)
		st.holder = t
		st.lockTime = time.Now()
		return true
	}
	t.grant = grant
	st.waiters = append(st.waiters, t)
	n := len(st.waiters)
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

// release frees the lock if t holds it, or drops t from the wait queue,
// and hands the lock to the first waiter (FIFO).
func (st *store) release(t *ztxn) {
	st.lockMu.Lock()
	if st.holder != t {
		for i, w := range st.waiters {
			if w == t {
				st.waiters = append(st.waiters[:i], st.waiters[i+1:]...)
				break
			}
		}
		st.lockMu.Unlock()
		return
	}
	st.holder = nil
	var next *ztxn
	if len(st.waiters) > 0 {
		next = st.waiters[0]
		st.waiters = st.waiters[1:]
		st.holder = next
		st.lockTime = time.Now()
	}
	st.lockMu.Unlock()
	if next != nil {
		go next.grant()
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
	args := wire.Tuple{storage.TIDBytes(t), list}
	st.connsMu.Lock()
	defer st.connsMu.Unlock()
	for c := range st.conns {
		if c != committer {
			c.callAsync("invalidateTransaction", args)
		}
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
	if st.holder != nil {
		lockTime = float64(st.lockTime.UnixNano()) / 1e9
	}
	waiting := int64(len(st.waiters))
	st.lockMu.Unlock()
	var timeoutAlive any = "stub"
	if st.srv.opts.TransactionTimeout > 0 {
		timeoutAlive = true
	}
	return wire.NewDict(
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
