package clientstorage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Config is a <zeoclient> section (ZODB 6 component.xml, ZODB.config's
// ZEOClient).
type Config struct {
	// Addrs are the upstream addresses, tried in order (client.Network's
	// form: "host:port" or a Unix socket path).
	Addrs []string
	// Storage is the upstream storage name (default "1").
	Storage string
	// Name is the storage's name in the server's log; "" gives the
	// address list as ClientStorage shows it (its str(addr)).
	Name string
	// CacheSize, Client and Var configure the client cache as
	// ClientStorage's cache_size, client and var do.
	CacheSize   int64
	Client, Var string
	// ReadOnly and ReadOnlyFallback are ClientStorage's read_only and
	// read_only_fallback.
	ReadOnly, ReadOnlyFallback bool
	// NoWait opens without the upstream (ClientStorage's wait=False):
	// only cached data can be read until it answers. Otherwise Open
	// waits up to WaitTimeout (0: ZEO's 30 s) for it.
	NoWait      bool
	WaitTimeout time.Duration
	// BlobDir, when set, makes the storage an IBlobStorage: blob files
	// fetched from the upstream are kept there.
	BlobDir string
	// Label is sent upstream with set_client_label (client-label).
	Label string
	// RetryDelay is the pause between reconnection attempts, plus up to
	// the same again at random; 0 is ZEO's 1 s.
	RetryDelay time.Duration
	// Ignored names configuration keys that were given but that ZEO 6
	// ClientStorage accepts and ignores (its disconnect polls,
	// credentials, drop_cache_rather_verify); each is logged once at
	// start-up so that the setting is not dropped without a word.
	Ignored []string
}

// ErrUnsupported is returned for operations this storage does not
// forward upstream.
var ErrUnsupported = errors.New("not supported by a <zeoclient> storage")

var (
	_ storage.Storage     = (*Storage)(nil)
	_ storage.Relayer     = (*Storage)(nil)
	_ storage.Logging     = (*Storage)(nil)
	_ storage.Storage     = (*BlobStorage)(nil)
	_ storage.BlobStorage = (*BlobStorage)(nil)
)

// Storage is a ZEO client of an upstream server seen as a storage.
type Storage struct {
	cfg  Config
	name string
	cs   atomic.Pointer[client.CachedStorage]
	ro   bool
	// wasConnected: a connection has been in use before (ClientStorage's
	// _connection_generation, which picks "Connected" or "Reconnected").
	wasConnected atomic.Bool

	length, size atomic.Int64

	oidMu sync.Mutex
	oids  []storage.OID

	// mu guards the relay state. Lock order: the server's lock (held
	// around Finish and by Relay.Publish), then mu.
	mu        sync.Mutex
	relay     storage.Relay
	queue     []storage.Invalidation // received from upstream, not yet relayed; tid order
	published tid.TID                // newest tid the server's clients have been told of
	logf      func(level int, name, msg string)
	early     []logRecord // logged before SetLog

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

type logRecord struct {
	level     int
	name, msg string
}

// Python logging levels used here.
const (
	levelInfo    = 20
	levelWarning = 30
)

// Open connects to the upstream (waiting for it unless cfg.NoWait) and
// returns the storage: a *BlobStorage when cfg.BlobDir is set.
func Open(ctx context.Context, cfg Config) (storage.Storage, error) {
	if len(cfg.Addrs) == 0 {
		return nil, errors.New("zeoclient: no server address")
	}
	if cfg.Storage == "" {
		cfg.Storage = "1"
	}
	s := &Storage{cfg: cfg, name: cfg.Name, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	if s.name == "" {
		s.name = addrRepr(cfg.Addrs)
	}
	for _, k := range cfg.Ignored {
		s.log(levelWarning, "ZEO.ClientStorage", fmt.Sprintf("%s: <zeoclient> key %s is ignored, as ZEO 6 ClientStorage ignores it", s.name, k))
	}
	var blobs *blobDir
	if cfg.BlobDir != "" {
		var err error
		if blobs, err = openBlobDir(cfg.BlobDir); err != nil {
			return nil, err
		}
	}
	opts := client.Options{Storage: cfg.Storage, ReadOnly: cfg.ReadOnly, ReadOnlyFallback: cfg.ReadOnlyFallback,
		Label: cfg.Label, OnInvalidate: s.onInvalidate, OnInfo: s.onInfo}
	copts := client.CacheOptions{Client: cfg.Client, Dir: cfg.Var, Size: cfg.CacheSize, NoWait: cfg.NoWait,
		RetryDelay: cfg.RetryDelay, OnConnect: s.onConnect, OnStaleCache: s.onStaleCache,
		OnDisconnect: func() {
			s.log(levelInfo, "ZEO.ClientStorage", fmt.Sprintf("%s Disconnected from storage", s.name))
		},
		OnError: func(err error) { s.log(levelWarning, "ZEO.asyncio.client", err.Error()) }}
	cs, err := s.openCached(ctx, opts, copts)
	if err != nil {
		return nil, fmt.Errorf("zeoclient %s: %w", s.name, err)
	}
	s.cs.Store(cs)
	if c, err := cs.Client(); err == nil {
		s.ro = c.ReadOnly
		s.connected(c)
		s.refreshInfo(c)
	} else {
		s.ro = cfg.ReadOnly
	}
	s.mu.Lock()
	s.published = max(s.published, cs.LastTransaction())
	s.dropRelayedLocked()
	s.mu.Unlock()
	go s.relayLoop()
	if blobs != nil {
		return &BlobStorage{Storage: s, blobs: blobs}, nil
	}
	return s, nil
}

// openCached is OpenCachedStorage, retried while the upstream is not
// (yet) there, for up to the wait timeout: ClientStorage's wait=True.
func (s *Storage) openCached(ctx context.Context, opts client.Options, copts client.CacheOptions) (*client.CachedStorage, error) {
	if s.cfg.NoWait {
		return client.OpenCachedStorage(ctx, s.cfg.Addrs, opts, copts)
	}
	timeout := s.cfg.WaitTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		cs, err := client.OpenCachedStorage(ctx, s.cfg.Addrs, opts, copts)
		if err == nil || !client.Retryable(err) {
			return cs, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no upstream answered within %s: %w", timeout, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

// addrRepr is ClientStorage's default name, str(addr) of the address
// list ZODB.config builds: [('host', port)] or ['/path'].
func addrRepr(addrs []string) string {
	out := "["
	for i, a := range addrs {
		if i > 0 {
			out += ", "
		}
		network, hp := client.Network(a)
		if network == "unix" {
			out += pyrepr.Str(hp)
			continue
		}
		host, port := hp, ""
		for j := len(hp) - 1; j >= 0; j-- {
			if hp[j] == ':' {
				host, port = hp[:j], hp[j+1:]
				break
			}
		}
		if len(host) > 1 && host[0] == '[' {
			host = host[1 : len(host)-1]
		}
		out += "(" + pyrepr.Str(host) + ", " + port + ")"
	}
	return out + "]"
}

// SetLog implements storage.Logging.
func (s *Storage) SetLog(log func(level int, name, msg string)) {
	s.mu.Lock()
	s.logf = log
	early := s.early
	s.early = nil
	s.mu.Unlock()
	for _, r := range early {
		log(r.level, r.name, r.msg)
	}
}

func (s *Storage) log(level int, name, msg string) {
	s.mu.Lock()
	f := s.logf
	if f == nil && len(s.early) < 100 {
		s.early = append(s.early, logRecord{level, name, msg})
	}
	s.mu.Unlock()
	if f != nil {
		f(level, name, msg)
	}
}

// SetRelay implements storage.Relayer.
func (s *Storage) SetRelay(r storage.Relay) {
	s.mu.Lock()
	s.relay = r
	s.mu.Unlock()
	s.signal()
}

func (s *Storage) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// onInvalidate receives the upstream's invalidateTransaction after the
// client cache has applied it, in the order the upstream sent them (tid
// order), on the connection's reader goroutine: it only queues.
func (s *Storage) onInvalidate(t tid.TID, oids []storage.OID) {
	s.mu.Lock()
	if t > s.published && (len(s.queue) == 0 || t > s.queue[len(s.queue)-1].TID) {
		s.queue = append(s.queue, storage.Invalidation{TID: t, OIDs: oids})
	}
	s.mu.Unlock()
	s.signal()
}

// dropRelayedLocked forgets queued invalidations the server's clients
// need not be told of any more.
func (s *Storage) dropRelayedLocked() {
	i := 0
	for i < len(s.queue) && s.queue[i].TID <= s.published {
		i++
	}
	s.queue = s.queue[i:]
}

// relayLoop passes queued invalidations to the server, in order.
func (s *Storage) relayLoop() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		r, n := s.relay, len(s.queue)
		s.mu.Unlock()
		if r == nil || n == 0 {
			continue
		}
		r.Publish(func(send func(storage.Invalidation)) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, inv := range s.queue {
				if inv.TID > s.published {
					send(inv)
					s.published = inv.TID
				}
			}
			s.queue = nil
		})
	}
}

// onConnect runs after each verified (re)connection: as ZEO 6
// ClientStorage.notify_connected does through invalidateCache, the
// server's clients are dropped so that they revalidate against what the
// upstream has now.
func (s *Storage) onConnect() {
	cs := s.cs.Load()
	if cs == nil {
		return // still in Open, which takes it from here
	}
	s.mu.Lock()
	s.published = max(s.published, cs.LastTransaction())
	s.dropRelayedLocked()
	r := s.relay
	s.mu.Unlock()
	if c, err := cs.Client(); err == nil {
		s.connected(c)
		go s.refreshInfo(c)
	}
	if r != nil {
		r.DropClients()
	}
}

// connected logs ZEO 6 ClientStorage.notify_connected's line.
func (s *Storage) connected(c *client.Client) {
	how := "Connected"
	if s.wasConnected.Swap(true) {
		how = "Reconnected"
	}
	s.log(levelInfo, "ZEO.ClientStorage", fmt.Sprintf("%s %s to storage: %s", s.name, how,
		strings.Trim(addrRepr([]string{c.RemoteAddr()}), "[]")))
}

// onStaleCache: the upstream could not say what changed while we were
// away and the cache was cleared (ZEO's "dropping stale cache"); the
// clients are dropped by onConnect, which follows.
func (s *Storage) onStaleCache() {
	s.log(levelWarning, "ZEO.ClientStorage", fmt.Sprintf("%s dropping stale cache", s.name))
}

func (s *Storage) onInfo(d *wire.Dict) {
	if v, ok := d.Get("length"); ok {
		if n, ok := wire.AsInt(v); ok {
			s.length.Store(n)
		}
	}
	if v, ok := d.Get("size"); ok {
		if n, ok := wire.AsInt(v); ok {
			s.size.Store(n)
		}
	}
}

// refreshInfo asks the upstream for its length and size (get_info).
func (s *Storage) refreshInfo(c *client.Client) {
	v, err := c.Call("get_info")
	if err != nil {
		return
	}
	if d, ok := v.(*wire.Dict); ok {
		s.onInfo(d)
	}
}

func (s *Storage) cached() *client.CachedStorage { return s.cs.Load() }

// Info implements storage.Storage.
func (s *Storage) Info() storage.Info { return s.info(false) }

func (s *Storage) info(blobs bool) storage.Info {
	var ifaces []storage.Interface
	if blobs {
		ifaces = append(ifaces, storage.Interface{Module: "ZODB.interfaces", Name: "IBlobStorage"})
	}
	ifaces = append(ifaces, storage.Interface{Module: "ZODB.interfaces", Name: "IExternalGC"},
		storage.Interface{Module: "ZODB.interfaces", Name: "IStorage"},
		storage.Interface{Module: "zope.interface", Name: "Interface"})
	return storage.Info{Name: s.name, ReadOnly: s.ro, Interfaces: ifaces}
}

// Len and Size are the upstream's, as its get_info and info callbacks
// last reported them.
func (s *Storage) Len() int    { return int(s.length.Load()) }
func (s *Storage) Size() int64 { return s.size.Load() }

// LastTransaction is the newest transaction the server's clients have
// been told of, so that a client registering now is current with what
// it will be sent.
func (s *Storage) LastTransaction() tid.TID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.published
}

// LoadBefore implements storage.Storage through the client cache.
func (s *Storage) LoadBefore(oid storage.OID, before tid.TID) ([]byte, tid.TID, tid.TID, bool, error) {
	data, start, end, ok, err := s.cached().LoadBefore(oid, before)
	if err != nil {
		return nil, 0, 0, false, upstreamErr(err, oid, nil)
	}
	return data, start, end, ok, nil
}

// LoadSerial implements storage.Storage (loadSerial upstream).
func (s *Storage) LoadSerial(oid storage.OID, serial tid.TID) ([]byte, error) {
	c, err := s.cached().Client()
	if err != nil {
		return nil, upstreamErr(err, oid, &serial)
	}
	v, err := c.Call("loadSerial", oid.Bytes(), storage.TIDBytes(serial))
	if err != nil {
		return nil, upstreamErr(err, oid, &serial)
	}
	b, ok := wire.AsBytes(v)
	if !ok {
		return nil, &storage.StorageError{Msg: "zeoclient: bad loadSerial reply " + wire.Repr(v)}
	}
	return b, nil
}

// History implements storage.Storage (history upstream).
func (s *Storage) History(oid storage.OID, size int) ([]storage.HistoryEntry, error) {
	c, err := s.cached().Client()
	if err != nil {
		return nil, upstreamErr(err, oid, nil)
	}
	v, err := c.Call("history", oid.Bytes(), int64(size))
	if err != nil {
		return nil, upstreamErr(err, oid, nil)
	}
	list, _ := wire.AsSeq(v)
	out := make([]storage.HistoryEntry, 0, len(list))
	for _, it := range list {
		d, ok := it.(*wire.Dict)
		if !ok {
			return nil, &storage.StorageError{Msg: "zeoclient: bad history entry " + wire.Repr(it)}
		}
		var h storage.HistoryEntry
		for _, kv := range d.Items {
			k, _ := wire.AsString(kv.Key)
			switch k {
			case "tid":
				b, _ := wire.AsBytes(kv.Value)
				h.TID = tid.FromBytes(b)
			case "serial":
			case "time":
				h.Time, _ = wire.AsFloat(kv.Value)
			case "user_name":
				h.User = textBytes(kv.Value)
			case "description":
				h.Description = textBytes(kv.Value)
			case "size":
				n, _ := wire.AsInt(kv.Value)
				h.Size = int(n)
			default:
				h.Extension = append(h.Extension, storage.ExtItem{Key: k, Value: kv.Value})
			}
		}
		out = append(out, h)
	}
	return out, nil
}

func textBytes(v any) []byte {
	if b, ok := wire.AsBytes(v); ok {
		return b
	}
	s, _ := wire.AsString(v)
	return []byte(s)
}

// NewOID hands out oids fetched from the upstream 100 at a time, as
// ClientStorage.new_oid does.
func (s *Storage) NewOID() (storage.OID, error) {
	s.oidMu.Lock()
	defer s.oidMu.Unlock()
	if len(s.oids) == 0 {
		oids, err := s.cached().NewOIDs(100)
		if err != nil {
			return 0, upstreamErr(err, 0, nil)
		}
		if len(oids) == 0 {
			return 0, &storage.StorageError{Msg: "zeoclient: new_oids returned no oids"}
		}
		s.oids = oids
	}
	o := s.oids[0]
	s.oids = s.oids[1:]
	return o, nil
}

// Pack asks the upstream to pack (ClientStorage.pack, wait=True); gc is
// the upstream's own setting.
func (s *Storage) Pack(t tid.TID, gc bool) error {
	c, err := s.cached().Client()
	if err != nil {
		return upstreamErr(err, 0, nil)
	}
	if _, err := c.Call("pack", t.TimeTime(), true); err != nil {
		return upstreamErr(err, 0, nil)
	}
	return nil
}

// Close stops relaying and closes the connection and the cache.
func (s *Storage) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
	}
	close(s.stop)
	<-s.done
	return s.cached().Close()
}

// Begin implements storage.Storage: tpc_begin upstream.
func (s *Storage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	return s.begin(meta)
}

func (s *Storage) begin(meta storage.TxnMeta) (*txn, error) {
	if s.ro {
		return nil, storage.ErrReadOnly
	}
	if meta.TID != 0 {
		return nil, fmt.Errorf("restore (copyTransactionsFrom): %w", ErrUnsupported)
	}
	ext := &wire.Dict{}
	for _, it := range meta.Extension {
		ext.Items = append(ext.Items, wire.DictItem{Key: it.Key, Value: it.Value})
	}
	ct, err := s.cached().Begin(string(meta.User), string(meta.Description), ext)
	if err != nil {
		return nil, upstreamErr(err, 0, nil)
	}
	return &txn{s: s, ct: ct}, nil
}

// txn forwards one transaction upstream. Stores are sent as they come
// (one-way calls); conflicts are known at Vote.
type txn struct {
	s  *Storage
	ct *client.CachedTxn
}

func (t *txn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	return upstreamErr(t.ct.Store(oid, serial, data), oid, nil)
}

func (t *txn) Restore(oid storage.OID, serial tid.TID, data []byte, prevTxn tid.TID) error {
	return fmt.Errorf("restore: %w", ErrUnsupported)
}

func (t *txn) Delete(oid storage.OID, serial tid.TID) error {
	return upstreamErr(t.ct.Delete(oid, serial), oid, nil)
}

func (t *txn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	return upstreamErr(t.ct.CheckCurrent(oid, serial), oid, nil)
}

func (t *txn) Undo(undoID []byte) ([]storage.OID, error) { return nil, storage.ErrUndoUnsupported }

// Vote votes upstream. A conflict there comes back as a ConflictError
// for the server's client: this server cannot resolve it (ZEO 6
// ClientStorage.tpc_vote would try the application's
// _p_resolveConflict and raise ConflictError when it has none).
func (t *txn) Vote() error {
	conflicts, _, err := t.ct.Vote()
	if err != nil {
		return upstreamErr(err, 0, nil)
	}
	if len(conflicts) > 0 {
		cf := conflicts[0]
		return &storage.ConflictError{OID: cf.OID, Committed: cf.Committed, Serial: cf.Read}
	}
	return nil
}

// Finish sends tpc_finish upstream. The server calls it holding its
// lock, so the upstream transactions older than ours that are still
// queued are passed on here, before the server tells its clients of
// ours.
func (t *txn) Finish() (tid.TID, error) {
	ntid, err := t.ct.Finish()
	if err != nil {
		return 0, upstreamErr(err, 0, nil)
	}
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var rest []storage.Invalidation
	for _, inv := range s.queue {
		switch {
		case inv.TID >= ntid:
			rest = append(rest, inv)
		case inv.TID > s.published && s.relay != nil:
			s.relay.PublishInFinish(inv)
			s.published = inv.TID
		}
	}
	s.queue = rest
	s.published = max(s.published, ntid)
	return ntid, nil
}

func (t *txn) Abort() {
	t.ct.Abort()
}

// upstreamErr maps an error of the upstream (or of the connection to
// it) to the storage errors the server reports to its clients.
func upstreamErr(err error, oid storage.OID, serial *tid.TID) error {
	if err == nil {
		return nil
	}
	var se *client.ServerError
	switch {
	case errors.Is(err, client.ErrDisconnected):
		return &storage.StorageError{Msg: "ClientDisconnected: the upstream server is not connected"}
	case !errors.As(err, &se):
		return err
	case client.IsClass(err, "POSKeyError"):
		return &storage.POSKeyError{OID: oid, Serial: serial}
	case client.IsClass(err, "ReadOnlyError"):
		return storage.ErrReadOnly
	case client.IsClass(err, "ReadConflictError"), client.IsClass(err, "ConflictError"):
		ce := &storage.ConflictError{OID: oid, Read: client.IsClass(err, "ReadConflictError")}
		if d, ok := se.Info.(*wire.Dict); ok {
			if v, ok := d.Get("oid"); ok {
				if b, ok := wire.AsBytes(v); ok {
					ce.OID, _ = storage.OIDFromBytes(b)
				}
			}
			if v, ok := d.Get("serials"); ok {
				if p, ok := wire.AsSeq(v); ok && len(p) == 2 {
					a, _ := wire.AsBytes(p[0])
					b, _ := wire.AsBytes(p[1])
					ce.Committed, ce.Serial = tid.FromBytes(a), tid.FromBytes(b)
				}
			}
		}
		return ce
	}
	return &storage.StorageError{Msg: se.Error()}
}
