package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// ErrDisconnected is returned for calls on a closed or broken connection
// (ZEO's ClientDisconnected).
var ErrDisconnected = errors.New("zeo client: disconnected")

// ServerError is an exception reply from the server.
type ServerError struct {
	Class string // e.g. "ZODB.POSException.POSKeyError"
	Info  any    // args tuple or attribute dict
}

func (e *ServerError) Error() string { return e.Class + wire.Repr(e.Info) }

// IsClass reports whether err is a ServerError of the given class (the
// short name after the last dot is enough: "POSKeyError").
func IsClass(err error, class string) bool {
	var se *ServerError
	if !errors.As(err, &se) {
		return false
	}
	return se.Class == class || strings.HasSuffix(se.Class, "."+class)
}

// Options configure Dial.
type Options struct {
	// Storage is the storage name to register (default "1").
	Storage string
	// ReadOnly registers read-only; ReadOnlyFallback retries read-only when
	// a writable registration gets ReadOnlyError.
	ReadOnly, ReadOnlyFallback bool
	// Encoding forces 'Z' or 'M'; 0 echoes the server's (what ZEO 5.4+
	// clients do).
	Encoding wire.Encoding
	// TLS, when set, wraps the connection.
	TLS *tls.Config
	// Timeout bounds dialing and the handshake (default 30 s, ZEO's
	// wait_timeout).
	Timeout time.Duration
	// OnInvalidate and OnInfo receive the server's callbacks, in order, on
	// the reader goroutine.
	OnInvalidate func(t tid.TID, oids []storage.OID)
	OnInfo       func(info *wire.Dict)
	// Label is sent with set_client_label when non-empty.
	Label string
}

type result struct {
	v    any
	err  error
	load loadReply // a loadBefore reply read by parseLoadReply (v is nil then)
	fast bool      // load is set
}

// Client is one registered ZEO connection.
type Client struct {
	nc       net.Conn
	enc      wire.Encoding
	opts     Options
	LastTID  tid.TID // the tid register returned
	ReadOnly bool

	w frameWriter // combines frame writes (conn.go)

	lastSeen atomic.Uint64 // newest tid seen: register, invalidations, own commits
	woken    atomic.Int64  // results handed to callers that have not picked them up yet (conn.go)

	mu      sync.Mutex
	nextID  int64
	pending map[callKey]waiters
	blobs   map[string][]byte // receiveBlob* data being collected, by (oid, serial)
	err     error
	done    chan struct{}
}

// Network splits a ZEO address into a net.Dial network and address: a
// string containing "/" is a Unix socket path (as ZEO 6.0's ClientStorage takes it).
func Network(addr string) (string, string) {
	if strings.Contains(addr, "/") {
		return "unix", addr
	}
	if !strings.Contains(addr, ":") {
		return "tcp", "localhost:" + addr
	}
	return "tcp", addr
}

// Dial connects to the first address that answers and registers.
func Dial(ctx context.Context, addrs []string, opts Options) (*Client, error) {
	if opts.Storage == "" {
		opts.Storage = "1"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	var errs []error
	for _, a := range addrs {
		c, err := dialOne(ctx, a, opts)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("zeo client: no address")
	}
	return nil, errors.Join(errs...)
}

func dialOne(ctx context.Context, addr string, opts Options) (*Client, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	network, a := Network(addr)
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, a)
	if err != nil {
		return nil, err
	}
	if opts.TLS != nil {
		tc := tls.Client(nc, opts.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	dl, _ := ctx.Deadline()
	nc.SetDeadline(dl)
	id, err := wire.ReadFrame(nc, 64)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("reading server protocol: %w", err)
	}
	enc, err := wire.ParseProtocolID(id)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if opts.Encoding != 0 {
		enc = opts.Encoding
	}
	if err := wire.WriteFrame(nc, enc.ProtocolID()); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c := &Client{nc: nc, enc: enc, opts: opts, pending: map[callKey]waiters{}, blobs: map[string][]byte{}, done: make(chan struct{})}
	c.w.cond.L = &c.w.mu
	go c.reader(bufio.NewReaderSize(nc, readBufSize))
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	last, err := c.Call("register", opts.Storage, opts.ReadOnly)
	if err != nil && !opts.ReadOnly && opts.ReadOnlyFallback && IsClass(err, "ReadOnlyError") {
		last, err = c.Call("register", opts.Storage, true)
		c.ReadOnly = true
	} else {
		c.ReadOnly = opts.ReadOnly
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	b, _ := wire.AsBytes(last)
	c.LastTID = tid.FromBytes(b)
	c.seen(c.LastTID)
	if opts.Label != "" {
		if err := c.CallAsync("set_client_label", opts.Label); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func (c *Client) seen(t tid.TID) {
	for {
		old := c.lastSeen.Load()
		if uint64(t) <= old || c.lastSeen.CompareAndSwap(old, uint64(t)) {
			return
		}
	}
}

// LastSeen is the newest tid this connection has seen (register,
// invalidations, its own commits): what a client cache would be current at.
func (c *Client) LastSeen() tid.TID { return tid.TID(c.lastSeen.Load()) }

// RemoteAddr is the server's address: "host:port", or the socket path.
func (c *Client) RemoteAddr() string { return c.nc.RemoteAddr().String() }

// Encoding is the marshalling in use.
func (c *Client) Encoding() wire.Encoding { return c.enc }

// Close closes the connection; pending calls fail with ErrDisconnected.
func (c *Client) Close() error {
	c.fail(ErrDisconnected)
	return c.nc.Close()
}

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
	for k, ws := range c.pending {
		c.woken.Add(int64(1 + len(ws.more)))
		ws.first <- result{err: err}
		for _, ch := range ws.more {
			ch <- result{err: err}
		}
		delete(c.pending, k)
	}
}

// readBufSize is the reader's buffer: a burst of replies (the server
// writes a batch with one write) is then read with one syscall instead of
// two per frame, as the server reads requests (docs/performance.md).
const readBufSize = 32 << 10

func (c *Client) reader(br *bufio.Reader) {
	for {
		frame, err := wire.ReadFrame(br, 0)
		if err != nil {
			c.fail(fmt.Errorf("%w: %v", ErrDisconnected, err))
			c.nc.Close()
			return
		}
		if c.enc == wire.Pickle {
			if key, lr, ok := parseLoadReply(frame); ok {
				c.deliver(key, result{load: lr, fast: true})
				continue
			}
		}
		m, err := c.enc.Decode(frame)
		if err != nil {
			c.fail(fmt.Errorf("%w: undecodable frame: %v", ErrDisconnected, err))
			c.nc.Close()
			return
		}
		if m.Method != wire.ReplyMethod {
			c.callback(m)
			continue
		}
		if m.IsHeartbeat() {
			continue
		}
		r := result{v: m.Args}
		if m.IsError() {
			se := &ServerError{Class: fmt.Sprint(m.Args)}
			if t, ok := m.Args.(wire.Tuple); ok && len(t) == 2 {
				se.Class, _ = wire.AsString(t[0])
				se.Info = t[1]
			}
			r = result{err: se}
		}
		if key, ok := replyKey(m.ID); ok {
			c.deliver(key, r)
		}
	}
}

// deliver hands a reply to the calls waiting for it (none: dropped).
func (c *Client) deliver(key callKey, r result) {
	c.mu.Lock()
	ws, found := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if !found {
		return
	}
	c.woken.Add(int64(1 + len(ws.more)))
	ws.first <- r
	for _, ch := range ws.more {
		ch <- r
	}
}

func (c *Client) callback(m wire.Message) {
	args, _ := wire.AsSeq(m.Args)
	switch m.Method {
	case "invalidateTransaction":
		if len(args) != 2 {
			return
		}
		if c.opts.OnInvalidate == nil {
			tb, _ := wire.AsBytes(args[0])
			c.seen(tid.FromBytes(tb))
			return
		}
		tb, _ := wire.AsBytes(args[0])
		list, _ := wire.AsSeq(args[1])
		oids := make([]storage.OID, 0, len(list))
		for _, o := range list {
			b, _ := wire.AsBytes(o)
			if oid, err := storage.OIDFromBytes(b); err == nil {
				oids = append(oids, oid)
			}
		}
		c.seen(tid.FromBytes(tb))
		c.opts.OnInvalidate(tid.FromBytes(tb), oids)
	case "receiveBlobStart", "receiveBlobChunk", "receiveBlobStop":
		if len(args) < 2 {
			return
		}
		key := wire.Repr(wire.Tuple{args[0], args[1]})
		c.mu.Lock()
		switch m.Method {
		case "receiveBlobStart":
			c.blobs[key] = []byte{}
		case "receiveBlobChunk":
			if b, ok := c.blobs[key]; ok && len(args) == 3 {
				chunk, _ := wire.AsBytes(args[2])
				c.blobs[key] = append(b, chunk...)
			}
		}
		c.mu.Unlock()
	case "info":
		if c.opts.OnInfo != nil && len(args) == 1 {
			if d, ok := args[0].(*wire.Dict); ok {
				c.opts.OnInfo(d)
			}
		}
	}
}

func (c *Client) write(m wire.Message) error {
	return c.sendMessage(m, true)
}

// Call makes a synchronous call and waits for its reply.
func (c *Client) Call(method string, args ...any) (any, error) {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	// Only loadBefore replies (keyed by (oid, tid)) take the fast path, so
	// r.v holds the reply here.
	m := wire.Message{ID: id, Flags: false, Method: method, Args: wire.Tuple(args)}
	r := c.call(intKey(id), func() error { return c.sendMessage(m, false) })
	return r.v, r.err
}

// call registers a pending call under key, sends its request (unless an
// identical one is already in flight) and waits for the reply.
func (c *Client) call(key callKey, sendRequest func() error) result {
	ch := resultChans.Get().(chan result)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		resultChans.Put(ch)
		return result{err: err}
	}
	ws, inFlight := c.pending[key]
	if inFlight { // identical in-flight loadBefore calls share one request
		ws.more = append(ws.more, ch)
	} else {
		ws.first = ch
	}
	c.pending[key] = ws
	c.mu.Unlock()
	if !inFlight {
		if err := sendRequest(); err != nil {
			// An encoding error, or the connection failed: fail it
			// (idempotent), which answers every pending call, ours too.
			c.fail(err)
		}
	}
	r := <-ch
	c.woken.Add(-1)
	resultChans.Put(ch)
	return r
}

// CallAsync sends a one-way call.
func (c *Client) CallAsync(method string, args ...any) error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.write(wire.Message{ID: int64(0), Flags: true, Method: method, Args: wire.Tuple(args)})
}

// Heartbeat sends the (-1, 0, '.reply', None) keep-alive.
func (c *Client) Heartbeat() error { return c.write(wire.Heartbeat) }

// LoadBefore loads the revision of oid current before `before`. ok is
// false when the object has no such revision; a missing object gives a
// POSKeyError ServerError. end is 0 for the current revision.
func (c *Client) LoadBefore(oid storage.OID, before tid.TID) (data []byte, start, end tid.TID, ok bool, err error) {
	// The message id of loadBefore is the (oid, tid) tuple itself
	// (ZEO 6.0 ZEO/asyncio/client.py, load_before).
	o, bt, enc := uint64(oid), uint64(before), c.enc
	r := c.call(loadKey(o, bt), func() error {
		return c.send(func(b []byte) ([]byte, error) { return appendLoadBefore(b, enc, o, bt), nil }, false)
	})
	if r.fast {
		lr := r.load
		if lr.hasEnd {
			end = tid.TID(lr.end)
		}
		return lr.data, tid.TID(lr.start), end, true, nil
	}
	v, err := r.v, r.err
	if err != nil || v == nil {
		return nil, 0, 0, false, err
	}
	t, isT := wire.AsSeq(v)
	if !isT || len(t) != 3 {
		return nil, 0, 0, false, fmt.Errorf("zeo client: bad loadBefore reply %s", wire.Repr(v))
	}
	data, _ = wire.AsBytes(t[0])
	sb, _ := wire.AsBytes(t[1])
	start = tid.FromBytes(sb)
	if t[2] != nil {
		eb, _ := wire.AsBytes(t[2])
		end = tid.FromBytes(eb)
	}
	return data, start, end, true, nil
}

// Load loads the current revision.
func (c *Client) Load(oid storage.OID) ([]byte, tid.TID, error) {
	data, start, _, ok, err := c.LoadBefore(oid, tid.Max)
	if err == nil && !ok {
		err = fmt.Errorf("zeo client: no current revision of %s", oid)
	}
	return data, start, err
}

// NewOIDs asks for fresh oids.
func (c *Client) NewOIDs(n int) ([]storage.OID, error) {
	v, err := c.Call("new_oids", int64(n))
	if err != nil {
		return nil, err
	}
	list, _ := wire.AsSeq(v)
	out := make([]storage.OID, 0, len(list))
	for _, o := range list {
		b, _ := wire.AsBytes(o)
		oid, err := storage.OIDFromBytes(b)
		if err != nil {
			return nil, err
		}
		out = append(out, oid)
	}
	return out, nil
}

// LoadBlob fetches a blob revision with sendBlob: the server streams it
// through receiveBlob* callbacks before its reply.
func (c *Client) LoadBlob(oid storage.OID, serial tid.TID) ([]byte, error) {
	ob, sb := oid.Bytes(), storage.TIDBytes(serial)
	key := wire.Repr(wire.Tuple{ob, sb})
	_, err := c.Call("sendBlob", ob, sb)
	c.mu.Lock()
	b, ok := c.blobs[key]
	delete(c.blobs, key)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("zeo client: sendBlob sent no blob for %s", oid)
	}
	return b, nil
}

// Ping round-trips a no-op call.
func (c *Client) Ping() error {
	_, err := c.Call("ping")
	return err
}

// LastTransaction asks the server for its last tid.
func (c *Client) LastTransaction() (tid.TID, error) {
	v, err := c.Call("lastTransaction")
	if err != nil {
		return 0, err
	}
	b, _ := wire.AsBytes(v)
	return tid.FromBytes(b), nil
}

// Conflict is one conflict dict from vote: the object, the tid it now has
// and the tid the client's change was based on, and the client's data.
type Conflict struct {
	OID       storage.OID
	Committed tid.TID
	Read      tid.TID
	Data      []byte
}

// Txn is a transaction being committed. The caller stores, votes, then
// finishes or aborts.
type Txn struct {
	c  *Client
	id int64
}

var txnCounter struct {
	sync.Mutex
	n int64
}

// Begin sends tpc_begin. Transaction ids only need to be unique per
// connection; large values exercise the LONG1 path like Python id()s.
func (c *Client) Begin(user, description string, ext *wire.Dict) (*Txn, error) {
	txnCounter.Lock()
	txnCounter.n++
	id := int64(140000000000000) + txnCounter.n
	txnCounter.Unlock()
	if ext == nil {
		ext = &wire.Dict{}
	}
	if err := c.CallAsync("tpc_begin", id, []byte(user), []byte(description), ext, nil, " "); err != nil {
		return nil, err
	}
	return &Txn{c: c, id: id}, nil
}

// Store sends storea; serial is the tid the data is based on (0 = new).
func (t *Txn) Store(oid storage.OID, serial tid.TID, data []byte) error {
	return t.c.CallAsync("storea", oid.Bytes(), storage.TIDBytes(serial), data, t.id)
}

// Delete sends deleteObject.
func (t *Txn) Delete(oid storage.OID, serial tid.TID) error {
	return t.c.CallAsync("deleteObject", oid.Bytes(), storage.TIDBytes(serial), t.id)
}

// CheckCurrent sends checkCurrentSerialInTransaction (readCurrent).
func (t *Txn) CheckCurrent(oid storage.OID, serial tid.TID) error {
	return t.c.CallAsync("checkCurrentSerialInTransaction", oid.Bytes(), storage.TIDBytes(serial), t.id)
}

// StoreBlob uploads a blob revision (storeBlobStart, storeBlobChunk in
// 59000-byte pieces, storeBlobEnd), as ClientStorage does for a
// non-shared blob directory.
func (t *Txn) StoreBlob(oid storage.OID, serial tid.TID, data, blob []byte) error {
	if err := t.c.CallAsync("storeBlobStart"); err != nil {
		return err
	}
	for len(blob) > 0 {
		n := min(len(blob), 59000)
		if err := t.c.CallAsync("storeBlobChunk", blob[:n]); err != nil {
			return err
		}
		blob = blob[n:]
	}
	return t.c.CallAsync("storeBlobEnd", oid.Bytes(), storage.TIDBytes(serial), data, t.id)
}

// Undo sends undoa for an undo id from undoLog.
func (t *Txn) Undo(undoID []byte) error {
	return t.c.CallAsync("undoa", undoID, t.id)
}

// Vote votes. It returns the conflict dicts (client-side resolution) and
// the oids the server changed (undo), or an error.
func (t *Txn) Vote() ([]Conflict, []storage.OID, error) {
	v, err := t.c.Call("vote", t.id)
	if err != nil {
		return nil, nil, err
	}
	items, _ := wire.AsSeq(v)
	var conflicts []Conflict
	var oids []storage.OID
	for _, it := range items {
		switch x := it.(type) {
		case *wire.Dict:
			var cf Conflict
			ov, _ := x.Get("oid")
			ob, _ := wire.AsBytes(ov)
			cf.OID, _ = storage.OIDFromBytes(ob)
			sv, _ := x.Get("serials")
			if s, ok := wire.AsSeq(sv); ok && len(s) == 2 {
				a, _ := wire.AsBytes(s[0])
				b, _ := wire.AsBytes(s[1])
				cf.Committed, cf.Read = tid.FromBytes(a), tid.FromBytes(b)
			}
			dv, _ := x.Get("data")
			cf.Data, _ = wire.AsBytes(dv)
			conflicts = append(conflicts, cf)
		default:
			b, _ := wire.AsBytes(x)
			if o, err := storage.OIDFromBytes(b); err == nil {
				oids = append(oids, o)
			}
		}
	}
	return conflicts, oids, nil
}

// Finish sends tpc_finish and returns the new tid.
func (t *Txn) Finish() (tid.TID, error) {
	v, err := t.c.Call("tpc_finish", t.id)
	if err != nil {
		return 0, err
	}
	b, ok := wire.AsBytes(v)
	if !ok || len(b) != 8 {
		return 0, fmt.Errorf("zeo client: bad tpc_finish reply %s", wire.Repr(v))
	}
	t.c.seen(tid.FromBytes(b))
	return tid.FromBytes(b), nil
}

// Abort sends tpc_abort.
func (t *Txn) Abort() error {
	_, err := t.c.Call("tpc_abort", t.id)
	return err
}
