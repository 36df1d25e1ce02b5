package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/cache"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// CacheOptions configure the client cache of a CachedStorage, as
// ClientStorage's cache options do (ZEO 6.0 ClientStorage.__init__, cache_size and var).
type CacheOptions struct {
	// Client is the persistent cache's client name (ClientStorage's
	// `client`); the file is "<Client>-<storage>.zec" in Dir.  Without a
	// name the cache is temporary: an anonymous file that goes away with
	// the process, as in ZEO.
	Client string
	// Dir is the cache directory (ZEO's `var`); "" is the working
	// directory for a persistent cache and os.TempDir() for a temporary
	// one.
	Dir string
	// Size is the cache file size (cache_size); 0 is ZEO's 20 MiB.
	Size int64
	// Trace chooses tracing (default: follow ZEO_CACHE_TRACE).
	Trace cache.TraceMode
	// Logger receives the cache's log messages; nil logs nothing.
	Logger *zerolog.Logger
	// RetryDelay is the pause between reconnection attempts, plus up to
	// the same again at random (ZEO's 1 s + random); 0 means 1 s.
	RetryDelay time.Duration
	// NoWait starts without a server when none answers (ClientStorage's
	// wait=False): reads are served from the cache until a connection is
	// made in the background.
	NoWait bool
	// OnStaleCache is called when a reconnect had to clear the cache
	// because the server no longer knew what changed since the cache's
	// last transaction (ZEO's StaleCache event).
	OnStaleCache func()
	// OnError receives connection and verification failures of the
	// background reconnects (nil: ignored).
	OnError func(error)
	// OnConnect is called after each connection has been verified and
	// put in use, the first included (ZEO 6 ClientStorage.notify_connected,
	// which then asks its database to invalidate everything it caches).
	OnConnect func()
	// OnDisconnect is called when a connection in use ends (not at
	// Close): ZEO 6 ClientStorage.notify_disconnected.
	OnDisconnect func()
}

// CachedStorage is a ZEO client with a client cache, the way ZODB uses
// ZEO's ClientStorage: loads are answered from the cache when possible and
// otherwise fetched from the server and cached; committed data and the
// server's invalidations keep the cache current; every (re)connection is
// verified with the server's last tid and getInvalidations before it is
// used; while the server is away, loads of cached data still succeed and
// everything else fails with ErrDisconnected (ZEO's ClientDisconnected).
type CachedStorage struct {
	addrs []string
	opts  Options
	copts CacheOptions
	cache *cache.Cache

	tpc sync.Mutex // one transaction at a time, as ClientStorage's tpc lock

	mu       sync.Mutex
	cur      *Client // nil while disconnected or verifying
	gen      uint64  // bumped whenever the connection changes
	hold     int     // >0: invalidations are queued, not applied (verify, tpc_finish)
	queued   []invalidation
	inflight map[storage.OID]*flight
	closed   bool
	stop     chan struct{}
	stopped  chan struct{}
}

type invalidation struct {
	tid  tid.TID
	oids []storage.OID
}

// flight tracks a server load of one oid: an invalidation arriving
// between the reply and its store must not leave the loaded revision
// current in the cache (the race ZEO 4 guards with _load_status).
type flight struct {
	n     int
	inval []tid.TID // invalidations of the oid seen meanwhile
}

// OpenCachedStorage opens the cache, connects to the first address that
// answers, verifies the cache against it and keeps reconnecting when the
// connection breaks, until Close.  opts.OnInvalidate, if set, is called
// after the cache has applied each invalidation.
func OpenCachedStorage(ctx context.Context, addrs []string, opts Options, copts CacheOptions) (*CachedStorage, error) {
	if opts.Storage == "" {
		opts.Storage = "1"
	}
	if copts.RetryDelay == 0 {
		copts.RetryDelay = time.Second
	}
	co := cache.Options{Size: copts.Size, Trace: copts.Trace, Logger: copts.Logger}
	var c *cache.Cache
	var err error
	if copts.Client != "" {
		c, err = cache.Open(cache.Name(copts.Dir, copts.Client, opts.Storage), co)
	} else {
		c, err = cache.OpenTemp(copts.Dir, co)
	}
	if err != nil {
		return nil, fmt.Errorf("zeo client: opening cache: %w", err)
	}
	s := &CachedStorage{addrs: addrs, opts: opts, copts: copts, cache: c,
		inflight: map[storage.OID]*flight{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	conn, err := s.connect(ctx)
	if err != nil && !copts.NoWait {
		c.Close()
		return nil, err
	}
	go s.loop(conn)
	return s, nil
}

// Cache is the client cache (for statistics; do not close it).
func (s *CachedStorage) Cache() *cache.Cache { return s.cache }

// Client is the verified connection in use (ErrDisconnected while there
// is none), for calls the CachedStorage does not wrap (history,
// loadSerial, sendBlob, ...).
func (s *CachedStorage) Client() (*Client, error) { return s.conn() }

// Connected reports whether a verified connection is in use.
func (s *CachedStorage) Connected() bool {
	_, err := s.conn()
	return err == nil
}

func (s *CachedStorage) conn() (*Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil, ErrDisconnected
	}
	select {
	case <-s.cur.Done():
		return nil, ErrDisconnected
	default:
	}
	return s.cur, nil
}

// connect dials, registers and verifies the cache (ZEO 6.0 ClientStorage.notify_connected).  The
// connection is only installed once the cache is verified; invalidations
// the server sends meanwhile are queued and applied afterwards, as ZEO
// delays them until verification is over.
func (s *CachedStorage) connect(ctx context.Context) (*Client, error) {
	s.holdOn()
	defer s.holdOff()
	opts := s.opts
	opts.OnInvalidate = s.onInvalidate
	c, err := Dial(ctx, s.addrs, opts)
	if err != nil {
		return nil, err
	}
	stale, err := s.cache.Verify(uint64(c.LastTID), func(since uint64) ([]uint64, bool, error) {
		v, err := c.Call("getInvalidations", storage.TIDBytes(tid.TID(since)))
		if err != nil || v == nil {
			return nil, false, err
		}
		t, ok := wire.AsSeq(v)
		if !ok || len(t) != 2 {
			return nil, false, fmt.Errorf("zeo client: bad getInvalidations reply %s", wire.Repr(v))
		}
		list, _ := wire.AsSeq(t[1])
		oids := make([]uint64, 0, len(list))
		for _, o := range list {
			b, _ := wire.AsBytes(o)
			oid, err := storage.OIDFromBytes(b)
			if err != nil {
				return nil, false, fmt.Errorf("zeo client: getInvalidations: %w", err)
			}
			oids = append(oids, uint64(oid))
		}
		return oids, true, nil
	})
	if err != nil {
		c.Close()
		s.mu.Lock()
		if s.hold == 1 {
			// Nothing from the rejected connection reaches the cache; its
			// last tid has not moved, so the next verification covers
			// these transactions again.
			s.queued = nil
		}
		s.mu.Unlock()
		if errors.Is(err, cache.ErrCacheAhead) {
			// ZEO: "Client has seen newer transactions than server!"
			err = fmt.Errorf("%w: %w", ErrCacheOutOfSync, err)
		}
		return nil, err
	}
	if stale && s.copts.OnStaleCache != nil {
		s.copts.OnStaleCache()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, ErrDisconnected
	}
	s.cur = c
	s.gen++
	if s.copts.OnConnect != nil {
		s.mu.Unlock()
		s.copts.OnConnect()
		s.mu.Lock()
	}
	return c, nil
}

func (s *CachedStorage) holdOn() {
	s.mu.Lock()
	s.hold++
	s.mu.Unlock()
}

// holdOff ends a hold and applies what was queued during it.
func (s *CachedStorage) holdOff() {
	s.mu.Lock()
	s.hold--
	var q []invalidation
	if s.hold == 0 {
		q, s.queued = s.queued, nil
	}
	s.mu.Unlock()
	for _, inv := range q {
		s.apply(inv)
	}
}

// onInvalidate is invalidateTransaction, on the connection's reader
// goroutine: it must never wait for the network.
func (s *CachedStorage) onInvalidate(t tid.TID, oids []storage.OID) {
	s.mu.Lock()
	for _, oid := range oids {
		if f := s.inflight[oid]; f != nil {
			f.inval = append(f.inval, t)
		}
	}
	if s.hold > 0 {
		s.queued = append(s.queued, invalidation{t, oids})
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.apply(invalidation{t, oids})
}

// apply is ClientStorage.invalidateTransaction: invalidate(oid, tid) for
// each oid, then setLastTid(tid).
func (s *CachedStorage) apply(inv invalidation) {
	s.mu.Lock()
	var err error
	for _, oid := range inv.oids {
		if err = s.cache.Invalidate(uint64(oid), uint64(inv.tid)); err != nil {
			break
		}
	}
	if err == nil && uint64(inv.tid) > s.cache.LastTid() {
		// A queued invalidation may be older than what verification or
		// our own commit already recorded: never move the tid back.
		err = s.cache.SetLastTid(uint64(inv.tid))
	}
	s.mu.Unlock()
	if err != nil {
		s.report(fmt.Errorf("zeo client: cache: invalidating %s: %w", inv.tid, err))
	}
	if s.opts.OnInvalidate != nil {
		s.opts.OnInvalidate(inv.tid, inv.oids)
	}
}

func (s *CachedStorage) report(err error) {
	if s.copts.OnError != nil {
		s.copts.OnError(err)
	}
}

// loop reconnects whenever the connection ends (ZEO's 1 s + random
// delay), until Close.
func (s *CachedStorage) loop(c *Client) {
	defer close(s.stopped)
	for {
		if c != nil {
			select {
			case <-c.Done():
			case <-s.stop:
				return
			}
			s.mu.Lock()
			lost := s.cur == c
			if lost {
				s.cur = nil
				s.gen++
			}
			s.mu.Unlock()
			if lost && s.copts.OnDisconnect != nil {
				s.copts.OnDisconnect()
			}
		}
		d := s.copts.RetryDelay + time.Duration(rand.Int64N(int64(s.copts.RetryDelay)+1))
		select {
		case <-time.After(d):
		case <-s.stop:
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		nc, err := s.connect(ctx)
		cancel()
		if err != nil {
			s.report(err)
		}
		c = nc
	}
}

// Close ends the connection and closes the cache (its file stays for the
// next run when it is persistent).
func (s *CachedStorage) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	c := s.cur
	s.cur = nil
	s.mu.Unlock()
	close(s.stop)
	if c != nil {
		c.Close()
	}
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache.Close()
}

// Load returns the current revision of oid (ClientStorage.load, which is
// loadBefore(oid, maxtid) since ZEO 4.2).
func (s *CachedStorage) Load(oid storage.OID) ([]byte, tid.TID, error) {
	data, start, _, ok, err := s.LoadBefore(oid, tid.Max)
	if err == nil && !ok {
		err = fmt.Errorf("zeo client: no current revision of %s", oid)
	}
	return data, start, err
}

// LoadBefore returns the revision of oid current before `before`, from
// the cache if it has it, else from the server (then cached).  While
// disconnected a cache miss fails with ErrDisconnected.
func (s *CachedStorage) LoadBefore(oid storage.OID, before tid.TID) (data []byte, start, end tid.TID, ok bool, err error) {
	d, st, en, hit, err := s.cache.LoadBefore(uint64(oid), uint64(before))
	if err != nil {
		// A damaged record was dropped by the cache: ask the server.
		s.report(fmt.Errorf("zeo client: cache: %w", err))
	} else if hit {
		return d, tid.TID(st), tid.TID(en), true, nil
	}
	c, err := s.conn()
	if err != nil {
		return nil, 0, 0, false, err
	}
	s.mu.Lock()
	gen := s.gen
	f := s.inflight[oid]
	if f == nil {
		f = &flight{}
		s.inflight[oid] = f
	}
	f.n++
	s.mu.Unlock()
	data, start, end, ok, err = c.LoadBefore(oid, before)
	s.mu.Lock()
	defer s.mu.Unlock()
	f.n--
	if f.n == 0 {
		delete(s.inflight, oid)
	}
	if err != nil || !ok || gen != s.gen || s.closed {
		// A reply from a connection that has since been replaced may
		// predate what verification invalidated: do not cache it.
		return data, start, end, ok, err
	}
	cend := end
	if cend == 0 {
		// Changed while the reply was on its way: cache it as the
		// non-current revision it already is, ending at the first
		// change after it (the server sends the invalidations of later
		// transactions after the reply, in order).
		for _, t := range f.inval {
			if t > start && (cend == 0 || t < cend) {
				cend = t
			}
		}
	}
	if serr := s.cache.Store(uint64(oid), uint64(start), uint64(cend), data); serr != nil && !errors.Is(serr, cache.ErrAlreadyCurrent) {
		s.mu.Unlock()
		s.report(fmt.Errorf("zeo client: cache: storing %s: %w", oid, serr))
		s.mu.Lock()
	}
	return data, start, end, true, nil
}

// LastTransaction is the last transaction the cache is current with
// (ClientStorage.lastTransaction), known even while disconnected.
func (s *CachedStorage) LastTransaction() tid.TID { return tid.TID(s.cache.LastTid()) }

// NewOIDs asks the server for fresh oids.
func (s *CachedStorage) NewOIDs(n int) ([]storage.OID, error) {
	c, err := s.conn()
	if err != nil {
		return nil, err
	}
	return c.NewOIDs(n)
}

// CachedTxn is a transaction of a CachedStorage.  It holds the storage's
// transaction lock from Begin until Finish or Abort.
type CachedTxn struct {
	s       *CachedStorage
	t       *Txn
	stored  map[storage.OID][]byte // nil data: deleted
	order   []storage.OID
	changed []storage.OID // undone or server-resolved: invalidate only
	done    bool
}

// Begin starts a transaction (tpc_begin); it fails with ErrDisconnected
// while the server is away.
func (s *CachedStorage) Begin(user, description string, ext *wire.Dict) (*CachedTxn, error) {
	s.tpc.Lock()
	c, err := s.conn()
	if err == nil {
		var t *Txn
		if t, err = c.Begin(user, description, ext); err == nil {
			return &CachedTxn{s: s, t: t, stored: map[storage.OID][]byte{}}, nil
		}
	}
	s.tpc.Unlock()
	return nil, err
}

func (t *CachedTxn) note(oid storage.OID, data []byte) {
	if _, ok := t.stored[oid]; !ok {
		t.order = append(t.order, oid)
	}
	t.stored[oid] = data
}

// Store sends storea and remembers the data for the cache; storing an oid
// again (a resolved conflict) replaces it.
func (t *CachedTxn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	t.note(oid, data)
	return t.t.Store(oid, serial, data)
}

// StoreBlob uploads a blob revision (see Txn.StoreBlob) and remembers
// its data record for the cache, as Store does.
func (t *CachedTxn) StoreBlob(oid storage.OID, serial tid.TID, data, blob []byte) error {
	t.note(oid, data)
	return t.t.StoreBlob(oid, serial, data, blob)
}

// Delete sends deleteObject.
func (t *CachedTxn) Delete(oid storage.OID, serial tid.TID) error {
	t.note(oid, nil)
	return t.t.Delete(oid, serial)
}

// CheckCurrent sends checkCurrentSerialInTransaction.
func (t *CachedTxn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	return t.t.CheckCurrent(oid, serial)
}

// Undo sends undoa; the oids it changes come back from Vote.
func (t *CachedTxn) Undo(undoID []byte) error { return t.t.Undo(undoID) }

// Vote votes; see Txn.Vote.  Oids the server changed itself (undo,
// server-side conflict resolution) are only invalidated at Finish, their
// data is not known here.
func (t *CachedTxn) Vote() ([]Conflict, []storage.OID, error) {
	cf, oids, err := t.t.Vote()
	t.changed = append(t.changed, oids...)
	return cf, oids, err
}

// Finish sends tpc_finish and updates the cache as ClientStorage's
// tpc_finish does: invalidate(oid, tid) and store(oid, tid, None, data)
// for each object written, then setLastTid(tid).  Invalidations arriving
// meanwhile are applied after, so a later transaction's invalidation is
// never overwritten by our older data.
func (t *CachedTxn) Finish() (tid.TID, error) {
	if t.done {
		return 0, errors.New("zeo client: transaction already finished")
	}
	t.done = true
	defer t.s.tpc.Unlock()
	s := t.s
	s.holdOn()
	defer s.holdOff()
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	ntid, err := t.t.Finish()
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.closed {
		// The connection was replaced while finishing; verification
		// of the new one has taken care of the cache.
		return ntid, nil
	}
	server := map[storage.OID]bool{}
	for _, oid := range t.changed {
		server[oid] = true
	}
	var cerr error
	keep := func(err error) {
		if err != nil && cerr == nil {
			cerr = err
		}
	}
	for _, oid := range t.order {
		keep(s.cache.Invalidate(uint64(oid), uint64(ntid)))
		if data := t.stored[oid]; data != nil && !server[oid] {
			keep(s.cache.Store(uint64(oid), uint64(ntid), 0, data))
		}
	}
	for _, oid := range t.changed {
		if _, ok := t.stored[oid]; !ok {
			keep(s.cache.Invalidate(uint64(oid), uint64(ntid)))
		}
	}
	if uint64(ntid) > s.cache.LastTid() {
		keep(s.cache.SetLastTid(uint64(ntid)))
	}
	if cerr != nil {
		s.mu.Unlock()
		s.report(fmt.Errorf("zeo client: cache: after commit %s: %w", ntid, cerr))
		s.mu.Lock()
	}
	return ntid, nil
}

// Abort sends tpc_abort.
func (t *CachedTxn) Abort() error {
	if t.done {
		return nil
	}
	t.done = true
	defer t.s.tpc.Unlock()
	return t.t.Abort()
}
