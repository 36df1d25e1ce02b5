package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// errNoReply tells the dispatcher that the handler has sent its reply
// itself (under a lock: docs/design/commit.md, "Ordering") or will send it later (a queued vote).
var errNoReply = errors.New("reply handled")

// Transaction states.
const (
	tBegun     = iota // buffering operations
	tWaiting          // vote queued for the commit lock
	tResolving        // lock held, conflict dicts sent, waiting for re-vote
	tVoted            // lock held, storage voted, waiting for finish
)

type opKind byte

const (
	opStore opKind = iota
	opRestore
	opDelete
	opCheck
	opUndo
)

type txnOp struct {
	kind    opKind
	oid     storage.OID
	serial  tid.TID
	data    []byte
	prevTxn tid.TID
	undoID  []byte
	blob    string // blob file of a blob store, owned by the transaction
}

// ztxn is a ZEO-level transaction of one connection.
type ztxn struct {
	conn       *conn
	id         string // normalised client txn id (Python id(txn))
	rawID      any
	meta       storage.TxnMeta
	ops        []txnOp
	storeIdx   map[storage.OID]int
	state      int
	holdsLock  bool
	stxn       storage.Transaction
	voteRounds int
	undone     []storage.OID
	timer      *time.Timer
	grant      func()
	// shared: the transaction goes through the storage's group commit
	// and locks only lockOIDs (see store.acquire).
	shared   bool
	lockOIDs []storage.OID
	voted    time.Time // first vote, for Observer.Commit (observe.go)
	// overLimit is set once the transaction exceeded
	// Options.MaxPendingStores: its ops are dropped and vote answers
	// this error.
	overLimit error
}

type txnIter struct {
	ch   chan storage.TxnRecord
	stop chan struct{}
	last *storage.TxnRecord
}

type recIter struct {
	recs []storage.DataRecord
}

// conn is one client connection.
type conn struct {
	srv  *Server
	nc   net.Conn
	enc  wire.Encoding
	addr string

	outMu  sync.Mutex
	out    [][]byte
	outSig chan struct{}
	// handling is set while the reader goroutine runs a handler: frames
	// queued meanwhile are written by the reader itself when it runs out
	// of buffered requests, sparing a wake-up of the writer goroutine per
	// reply (seen in profiles of the load path). wmu orders the two writers.
	handling atomic.Bool
	wmu      sync.Mutex
	wbuf     []byte

	done      chan struct{}
	closeOnce sync.Once

	label atomic.Pointer[string] // set_client_label; read without c.mu for log lines

	mu       sync.Mutex // guards everything below
	store    *store
	readOnly bool
	txn      *ztxn
	iters    map[int64]any // *txnIter or *recIter
	nextIter int64
	blobUp   *os.File // the upload between storeBlobStart and storeBlobEnd
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{srv: s, nc: nc, addr: nc.RemoteAddr().String(), outSig: make(chan struct{}, 1),
		done: make(chan struct{}), iters: map[int64]any{}}
}

func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) logName() string {
	if l := c.label.Load(); l != nil && *l != "" {
		return *l + " " + c.addr
	}
	return c.addr
}

// enqueue appends an encoded frame to the FIFO the writer drains.
func (c *conn) enqueue(payload []byte) {
	c.outMu.Lock()
	c.out = append(c.out, payload)
	c.outMu.Unlock()
	if c.handling.Load() {
		return // the reader flushes after its handler
	}
	c.signal()
}

func (c *conn) signal() {
	select {
	case c.outSig <- struct{}{}:
	default:
	}
}

// flush writes every queued frame, in order, with one Write.
func (c *conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.outMu.Lock()
	frames := c.out
	c.out = nil
	c.outMu.Unlock()
	if len(frames) == 0 {
		return nil
	}
	buf := c.wbuf[:0]
	for _, f := range frames {
		buf = wire.AppendFrame(buf, f)
	}
	_, err := c.nc.Write(buf)
	if cap(buf) <= 1<<20 {
		c.wbuf = buf
	} else {
		c.wbuf = nil
	}
	return err
}

func (c *conn) send(m wire.Message) {
	b, err := c.enc.Encode(m)
	if err != nil {
		// Only a value we built can fail here; report it instead of hanging
		// the client on a reply that never comes.
		c.srv.log.error("ZEO.StorageServer", "(%s) cannot marshal reply to %s: %v", c.logName(), m.Method, err)
		b, _ = c.enc.Encode(wire.Message{ID: m.ID, Flags: wire.FlagError, Method: wire.ReplyMethod,
			Args: wire.Tuple{ClassStorageError, wire.Tuple{err.Error()}}})
	}
	c.enqueue(b)
}

func (c *conn) reply(id any, v any, err error) {
	if err != nil {
		re := toRemote(err)
		info := re.Info
		if re.MsgpackInfo != nil && c.enc == wire.Msgpack {
			info = re.MsgpackInfo
		}
		c.send(wire.Message{ID: id, Flags: wire.FlagError, Method: wire.ReplyMethod, Args: wire.Tuple{re.Class, info}})
		return
	}
	c.send(wire.Message{ID: id, Flags: wire.FlagReply, Method: wire.ReplyMethod, Args: v})
}

func (c *conn) callAsync(method string, args wire.Tuple) {
	c.send(wire.Message{ID: int64(0), Flags: true, Method: method, Args: args})
}

func (c *conn) writer() {
	for {
		select {
		case <-c.outSig:
		case <-c.done:
			return
		}
		if err := c.flush(); err != nil {
			c.close()
			return
		}
	}
}

// completeFrameBuffered tells whether br already holds a whole frame,
// so handling it cannot block on the network.
func completeFrameBuffered(br *bufio.Reader) bool {
	n := br.Buffered()
	if n < 4 {
		return false
	}
	hdr, err := br.Peek(4)
	if err != nil {
		return false
	}
	size := int(hdr[0]&0x7f)<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	return n >= 4+size
}

func (c *conn) serve() {
	defer c.srv.forget(c)
	defer c.cleanup()
	s := c.srv
	enc := wire.Pickle
	if s.opts.Msgpack {
		enc = wire.Msgpack
	}
	// ZEO logs the server's own address here (a quirk users grep for).
	if la, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		s.log.info("ZEO.asyncio.base", "Connected ZEO.asyncio.server.ServerProtocol((%s, %d))", pyQuote(la.IP.String()), la.Port)
	} else {
		s.log.info("ZEO.asyncio.base", "Connected ZEO.asyncio.server.ServerProtocol(%s)", pyQuote(c.nc.LocalAddr().String()))
	}
	// Handshake timeout: a peer that never completes the TLS
	// handshake or never answers the protocol frame would pin this
	// goroutine and its descriptor for ever; ZEO keeps such sockets.
	if d := s.opts.HandshakeTimeout; d > 0 {
		c.nc.SetDeadline(time.Now().Add(d))
	}
	// The server speaks first (docs/design/wire-protocol.md, "Handshake").
	if err := wire.WriteFrame(c.nc, enc.ProtocolID()); err != nil {
		if isTimeout(err) {
			s.log.warning("ZEO.asyncio.server", "dropped %s: no handshake within %v (handshake-timeout)", c.nc.RemoteAddr(), s.opts.HandshakeTimeout)
		}
		return
	}
	hs, err := wire.ReadFrame(c.nc, 1024)
	if err != nil {
		if isTimeout(err) {
			s.log.warning("ZEO.asyncio.server", "dropped %s: no handshake within %v (handshake-timeout)", c.nc.RemoteAddr(), s.opts.HandshakeTimeout)
		}
		return
	}
	c.nc.SetDeadline(time.Time{})
	if string(hs) == "ruok" {
		_ = wire.WriteFrame(c.nc, s.RuokJSON())
		return
	}
	c.enc, err = wire.ParseProtocolID(hs)
	if err != nil {
		s.log.error("ZEO.asyncio.server", "bad handshake %s", wire.Repr(hs))
		return
	}
	s.log.info("ZEO.asyncio.server", "received handshake %s", pyQuote(string(hs)))
	go c.writer()
	// One read syscall fetches every frame the client has pipelined
	// instead of two per frame (length word, then payload): the load path
	// was syscall-bound in profiles.
	br := bufio.NewReaderSize(c.nc, 32<<10)
	for {
		frame, err := wire.ReadFrame(br, s.opts.MaxFrame)
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.isClosed() && !errors.Is(err, net.ErrClosed) {
				s.log.error("ZEO.asyncio.server", "(%s) %v", c.logName(), err)
			}
			return
		}
		m, err := c.enc.Decode(frame)
		if err != nil {
			s.log.error("ZEO.asyncio.server", "(%s) Can't deserialize message: %v", c.logName(), err)
			return
		}
		// pack(wait=True) can take long: let the writer goroutine send
		// what other goroutines queue meanwhile (invalidations).
		c.handling.Store(m.Method != "pack")
		err = c.handle(m)
		c.handling.Store(false)
		if err != nil {
			return
		}
		// Replies to a burst of pipelined requests go out together; the
		// last one of the burst flushes. A frame still arriving would
		// block us, so flush before reading it.
		if !completeFrameBuffered(br) {
			if err := c.flush(); err != nil {
				c.close()
				return
			}
		}
	}
}

// cleanup runs when the connection ends for any reason: abort its
// transaction and release or leave the commit-lock queue
// (docs/design/commit.md, "Locks"), leave the fan-out set, free iterators.
func (c *conn) cleanup() {
	c.close()
	c.mu.Lock()
	st := c.store
	t := c.txn
	if t != nil {
		kind := "unlocked"
		if t.holdsLock {
			kind = "locked"
		}
		c.srv.log.info("ZEO.StorageServer", "(%s) disconnected during %s transaction", c.labelAddrLocked(), kind)
		c.abortLocked(t)
	}
	for id := range c.iters {
		c.freeIterLocked(id)
	}
	c.dropBlobUploadLocked()
	c.mu.Unlock()
	if st != nil {
		st.unregister(c)
	}
	c.srv.log.info("ZEO.StorageServer", "(%s) disconnected", c.logName())
}

func (c *conn) labelAddrLocked() string { return c.logName() }

type handler func(c *conn, id any, args wire.Tuple) (any, error)

var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"register":                        (*conn).register,
		"get_info":                        (*conn).getInfo,
		"lastTransaction":                 (*conn).lastTransaction,
		"ping":                            func(*conn, any, wire.Tuple) (any, error) { return nil, nil },
		"loadBefore":                      (*conn).loadBefore,
		"loadSerial":                      (*conn).loadSerial,
		"getTid":                          (*conn).getTid,
		"history":                         (*conn).history,
		"record_iternext":                 (*conn).recordIternext,
		"new_oids":                        (*conn).newOIDs,
		"getInvalidations":                (*conn).getInvalidations,
		"tpc_begin":                       (*conn).tpcBegin,
		"storea":                          (*conn).storea,
		"restorea":                        (*conn).restorea,
		"deleteObject":                    (*conn).deleteObject,
		"checkCurrentSerialInTransaction": (*conn).checkCurrent,
		"undoa":                           (*conn).undoa,
		"vote":                            (*conn).vote,
		"tpc_finish":                      (*conn).tpcFinish,
		"tpc_abort":                       (*conn).tpcAbort,
		"undoLog":                         (*conn).undoLog,
		"undoInfo":                        (*conn).undoInfo,
		"pack":                            (*conn).pack,
		"iterator_start":                  (*conn).iteratorStart,
		"iterator_next":                   (*conn).iteratorNext,
		"iterator_record_start":           (*conn).iteratorRecordStart,
		"iterator_record_next":            (*conn).iteratorRecordNext,
		"iterator_gc":                     (*conn).iteratorGC,
		"server_status":                   (*conn).serverStatus,
		"set_client_label":                (*conn).setClientLabel,
		"storeBlobStart":                  (*conn).storeBlobStart,
		"storeBlobChunk":                  (*conn).storeBlobChunk,
		"storeBlobEnd":                    (*conn).storeBlobEnd,
		"storeBlobShared":                 (*conn).storeBlobShared,
		"sendBlob":                        (*conn).sendBlob,
	}
}

// handle dispatches one message. A non-nil result closes the connection.
func (c *conn) handle(m wire.Message) (err error) {
	// A bug in one handler must not take the whole server down: log it
	// and close only this connection (its cleanup aborts its transaction).
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.critical("ZEO.StorageServer", "(%s) internal error handling %s: %v", c.logName(), pyQuote(m.Method), r)
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	if m.IsHeartbeat() || m.Method == wire.ReplyMethod {
		return nil
	}
	args, ok := wire.AsSeq(m.Args)
	if !ok {
		c.srv.log.error("ZEO.StorageServer", "(%s) bad arguments for %s: %s", c.logName(), m.Method, wire.Repr(m.Args))
		return errors.New("bad args")
	}
	c.mu.Lock()
	registered := c.store != nil
	c.mu.Unlock()
	h := handlers[m.Method]
	if h == nil || (!registered && m.Method != "register") {
		c.srv.log.error("ZEO.StorageServer", "(%s) Invalid method %s", c.logName(), pyQuote(m.Method))
		return errors.New("invalid method")
	}
	async := m.Async()
	v, err := h(c, m.ID, wire.Tuple(args))
	if err == errNoReply {
		return nil
	}
	if async {
		if err != nil {
			// An async call cannot report its error: log and close
			// (ZEO 6.0 ServerProtocol.message_received).
			c.srv.log.error("ZEO.StorageServer", "(%s) %s raised exception: %v; closing connection", c.logName(), pyQuote(m.Method), err)
			return err
		}
		return nil
	}
	if err != nil {
		var pk *storage.POSKeyError
		var ce *storage.ConflictError
		if !errors.As(err, &pk) && !errors.As(err, &ce) {
			c.srv.log.error("ZEO.StorageServer", "(%s) `%s` raised exception: %v", c.logName(), pyQuote(m.Method), err)
		}
	}
	c.reply(m.ID, v, err)
	return nil
}

// ---------------------------------------------------------------- arguments

func typeErr(format string, a ...any) error {
	return remote(ClassTypeError, fmt.Sprintf(format, a...))
}

func arg(args wire.Tuple, i int, name string) (any, error) {
	if i >= len(args) {
		return nil, typeErr("missing required positional argument: '%s'", name)
	}
	return args[i], nil
}

func argOID(args wire.Tuple, i int) (storage.OID, error) {
	v, err := arg(args, i, "oid")
	if err != nil {
		return 0, err
	}
	b, ok := v.([]byte)
	if !ok {
		if s, isStr := v.(string); isStr { // py2 peers
			b, ok = []byte(s), true
		}
	}
	if !ok || len(b) != 8 {
		return 0, typeErr("oid must be 8 bytes, got %s", wire.Repr(v))
	}
	return storage.OIDFromBytes(b)
}

func argTID(args wire.Tuple, i int, name string) (tid.TID, error) {
	v, err := arg(args, i, name)
	if err != nil {
		return 0, err
	}
	b, ok := wire.AsBytes(v)
	if !ok || len(b) != 8 {
		return 0, typeErr("%s must be 8 bytes, got %s", name, wire.Repr(v))
	}
	return tid.FromBytes(b), nil
}

func argBytes(args wire.Tuple, i int, name string) ([]byte, error) {
	v, err := arg(args, i, name)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	b, ok := wire.AsBytes(v)
	if !ok {
		return nil, typeErr("%s must be bytes, got %T", name, v)
	}
	return b, nil
}

func argInt(args wire.Tuple, i int, name string, def int64) (int64, error) {
	if i >= len(args) || args[i] == nil {
		return def, nil
	}
	n, ok := wire.AsInt(args[i])
	if !ok {
		return 0, typeErr("%s must be an int, got %s", name, wire.Repr(args[i]))
	}
	return n, nil
}

func tidOrNone(t tid.TID) any {
	if t == 0 {
		return nil
	}
	return storage.TIDBytes(t)
}

func extDict(items []storage.ExtItem) *wire.Dict {
	d := &wire.Dict{}
	for _, it := range items {
		d.Set(it.Key, it.Value)
	}
	return d
}

// ---------------------------------------------------------------- reads

func (c *conn) register(id any, args wire.Tuple) (any, error) {
	name, ok := wire.AsString(first(args))
	if !ok {
		return nil, typeErr("register() needs a storage name")
	}
	ro := len(args) > 1 && wire.Truthy(args[1])
	// A 3rd credentials argument from ZEO <= 5.4 clients is ignored.
	c.mu.Lock()
	if c.store != nil {
		c.mu.Unlock()
		c.srv.log.info("ZEO.StorageServer", "(%s) duplicate register() call", c.logName())
		return nil, valueError("duplicate register() call")
	}
	st := c.srv.stores[name]
	if st == nil {
		c.mu.Unlock()
		// ZEOStorage.register logs this (INFO) before raising.
		c.srv.log.info("ZEO.StorageServer", "(%s) unknown storage_id: %s", c.logName(), name)
		return nil, valueError("unknown storage: %s", name)
	}
	if !ro && st.readOnly {
		c.mu.Unlock()
		return nil, storage.ErrReadOnly
	}
	c.store = st
	c.readOnly = ro || st.readOnly
	c.mu.Unlock()
	// Join the fan-out set before reading the last tid, under the
	// visibility lock, so no commit falls between the two (docs/design/commit.md,
	// "Ordering", rule 4).
	st.vis.RLock()
	defer st.vis.RUnlock()
	st.register(c)
	c.reply(id, storage.TIDBytes(st.st.LastTransaction()), nil)
	return nil, errNoReply
}

func first(args wire.Tuple) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func (c *conn) getInfo(id any, args wire.Tuple) (any, error) {
	st := c.store
	info := st.st.Info()
	ifaces := make(wire.Tuple, len(info.Interfaces))
	for i, f := range info.Interfaces {
		ifaces[i] = wire.Tuple{f.Module, f.Name}
	}
	return wire.NewDict(
		"length", int64(st.st.Len()),
		"size", st.st.Size(),
		"name", info.Name,
		"supportsUndo", info.SupportsUndo,
		"supports_record_iternext", info.SupportsRecordIternext,
		"interfaces", ifaces,
	), nil
}

func (c *conn) lastTransaction(id any, args wire.Tuple) (any, error) {
	st := c.store
	st.vis.RLock()
	defer st.vis.RUnlock()
	c.reply(id, storage.TIDBytes(st.st.LastTransaction()), nil)
	return nil, errNoReply
}

func (c *conn) loadBefore(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	before, err := argTID(args, 1, "tid")
	if err != nil {
		return nil, err
	}
	st := c.store
	st.loads.Add(1)
	started := st.srv.obsStart()
	// Compute and enqueue the reply under the shared visibility lock: the
	// invalidation that makes this reply stale cannot be queued before it.
	st.vis.RLock()
	defer st.vis.RUnlock()
	data, start, end, ok, err := st.st.LoadBefore(oid, before)
	st.observeLoad(started) // before the reply: a client that has it sees the count
	switch {
	case err != nil:
		c.reply(id, nil, err)
	case !ok:
		c.reply(id, nil, nil)
	default:
		c.reply(id, wire.Tuple{data, storage.TIDBytes(start), tidOrNone(end)}, nil)
	}
	return nil, errNoReply
}

func (c *conn) loadSerial(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	return c.store.st.LoadSerial(oid, serial)
}

func (c *conn) getTid(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	_, start, _, ok, err := c.store.st.LoadBefore(oid, tid.Max)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &storage.POSKeyError{OID: oid}
	}
	return storage.TIDBytes(start), nil
}

func (c *conn) history(id any, args wire.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	size, err := argInt(args, 1, "size", 1)
	if err != nil {
		return nil, err
	}
	hist, err := c.store.st.History(oid, int(min(max(size, 1), 1<<20)))
	if err != nil {
		return nil, err
	}
	out := make(wire.List, 0, len(hist))
	for _, h := range hist {
		// FileStorage.history: d = loads(ext); d.update({time, user_name,
		// description, tid, size}), so extension keys come first and the
		// standard values win.
		d := wire.NewDict()
		for _, e := range h.Extension {
			d.Set(e.Key, e.Value)
		}
		d.Set("time", h.Time)
		d.Set("user_name", nz(h.User))
		d.Set("description", nz(h.Description))
		d.Set("tid", storage.TIDBytes(h.TID))
		d.Set("size", int64(h.Size))
		out = append(out, d)
	}
	return out, nil
}

func nz(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (c *conn) recordIternext(id any, args wire.Tuple) (any, error) {
	ri, ok := c.store.st.(storage.RecordIterator)
	if !ok {
		return nil, remote(ClassStorageError, "record_iternext is not supported by this storage")
	}
	var next storage.OID
	if len(args) > 0 && args[0] != nil {
		var err error
		if next, err = argOID(args, 0); err != nil {
			return nil, err
		}
	}
	oid, serial, data, nextOID, more, err := ri.RecordIternext(next)
	if err != nil {
		return nil, err
	}
	var n any
	if more {
		n = nextOID.Bytes()
	}
	return wire.Tuple{oid.Bytes(), storage.TIDBytes(serial), data, n}, nil
}

func (c *conn) newOIDs(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	n, err := argInt(args, 0, "n", 100)
	if err != nil {
		return nil, err
	}
	n = min(max(n, 1), 100)
	out := make(wire.List, 0, n)
	for i := int64(0); i < n; i++ {
		o, err := c.store.st.NewOID()
		if err != nil {
			return nil, err
		}
		out = append(out, o.Bytes())
	}
	return out, nil
}

// getInvalidations answers (latest tid, oids since tid) from the queue, or
// None when the queue does not reach back far enough (ZEO 6.0
// StorageServer.getInvalidations).
func (c *conn) getInvalidations(id any, args wire.Tuple) (any, error) {
	since, err := argTID(args, 0, "tid")
	if err != nil {
		return nil, err
	}
	st := c.store
	st.vis.RLock()
	defer st.vis.RUnlock()
	q := st.invq
	last := st.st.LastTransaction()
	if since == last {
		c.reply(id, wire.Tuple{storage.TIDBytes(last), wire.List{}}, nil)
		return nil, errNoReply
	}
	if (len(q) == 0 || q[0].TID > since) && c.srv.opts.InvalidationAge > 0 &&
		time.Since(since.Time()) < c.srv.opts.InvalidationAge {
		if it, ok := st.st.(storage.Iterator); ok {
			seen := map[storage.OID]bool{}
			oids := wire.List{}
			latest := since
			err := it.Iterate(since+1, 0, func(r storage.TxnRecord) bool {
				latest = r.TID
				for _, d := range r.Records {
					if !seen[d.OID] {
						seen[d.OID] = true
						oids = append(oids, d.OID.Bytes())
					}
				}
				return true
			})
			if err == nil {
				c.srv.log.info("ZEO.StorageServer", "Return %d invalidations up to tid %d (from the storage)", len(oids), uint64(latest))
				c.reply(id, wire.Tuple{storage.TIDBytes(latest), oids}, nil)
				return nil, errNoReply
			}
		}
	}
	if len(q) == 0 || q[0].TID > since {
		if len(q) == 0 {
			c.srv.log.debug("ZEO.StorageServer", "invq empty")
		} else {
			c.srv.log.info("ZEO.StorageServer", "tid to old for invq %d < %d", uint64(since), uint64(q[0].TID))
		}
		c.reply(id, nil, nil)
		return nil, errNoReply
	}
	seen := map[storage.OID]bool{}
	oids := wire.List{}
	for _, inv := range q {
		if inv.TID <= since {
			continue
		}
		for _, o := range inv.OIDs {
			if !seen[o] {
				seen[o] = true
				oids = append(oids, o.Bytes())
			}
		}
	}
	latest := q[len(q)-1].TID
	c.srv.log.info("ZEO.StorageServer", "Return %d invalidations up to tid %d", len(oids), uint64(latest))
	c.reply(id, wire.Tuple{storage.TIDBytes(latest), oids}, nil)
	return nil, errNoReply
}

func (c *conn) serverStatus(id any, args wire.Tuple) (any, error) {
	return c.store.status(), nil
}

func (c *conn) setClientLabel(id any, args wire.Tuple) (any, error) {
	label, _ := wire.AsString(first(args))
	c.label.Store(&label)
	return nil, nil
}

// ---------------------------------------------------------------- undo / pack

func undoDict(e storage.UndoEntry) *wire.Dict {
	// UndoSearch._readnext's order: id, time, user_name, size, description,
	// then d.update(extension) (extension values win).
	d := wire.NewDict("id", e.ID, "time", e.Time, "user_name", nz(e.User), "size", int64(e.Size), "description", nz(e.Description))
	for _, x := range e.Extension {
		d.Set(x.Key, x.Value)
	}
	return d
}

func (c *conn) undoLog(id any, args wire.Tuple) (any, error) {
	return c.undoQuery(args, nil)
}

func (c *conn) undoInfo(id any, args wire.Tuple) (any, error) {
	var spec *wire.Dict
	if len(args) > 2 && args[2] != nil {
		d, ok := args[2].(*wire.Dict)
		if !ok {
			return nil, typeErr("undoInfo specification must be a dict")
		}
		spec = d
	}
	return c.undoQuery(args, spec)
}

func (c *conn) undoQuery(args wire.Tuple, spec *wire.Dict) (any, error) {
	u, ok := c.store.st.(storage.Undoer)
	if !ok || !c.store.st.Info().SupportsUndo {
		return wire.Tuple{}, nil
	}
	first, err := argInt(args, 0, "first", 0)
	if err != nil {
		return nil, err
	}
	last, err := argInt(args, 1, "last", -20)
	if err != nil {
		return nil, err
	}
	if last < 0 { // a negative last is a count (ZODB undoLog)
		last = first - last
	}
	var filter func(storage.UndoEntry) bool
	if spec.Len() > 0 {
		filter = func(e storage.UndoEntry) bool { return matchSpec(spec, undoDict(e)) }
	}
	entries, err := u.UndoLog(int(first), int(last), filter)
	if err != nil {
		return nil, err
	}
	out := make(wire.List, len(entries))
	for i, e := range entries {
		out[i] = undoDict(e)
	}
	return out, nil
}

// matchSpec applies undoInfo's filter: each spec item must equal the
// entry's value; a ZopeUndo Prefix matches by path prefix (Zope's ZopeUndo.Prefix).
func matchSpec(spec, entry *wire.Dict) bool {
	for _, it := range spec.Items {
		key, _ := wire.AsString(it.Key)
		val, _ := entry.Get(key)
		if obj, ok := it.Value.(*wire.Object); ok && obj.Class == (wire.Global{Module: "ZopeUndo.Prefix", Name: "Prefix"}) {
			if !prefixMatch(obj, val) {
				return false
			}
			continue
		}
		// Python compares with != (UndoLogCompatible.undoInfo): a str
		// never equals the stored bytes, so {'user_name': '/ bob'}
		// matches nothing under Python 3, as with ZEO + FileStorage.
		if !wire.Equal(it.Value, val) {
			return false
		}
	}
	return true
}

func prefixMatch(obj *wire.Object, val any) bool {
	st, _ := obj.State.(*wire.Dict)
	lengthV, _ := st.Get("length")
	pathV, _ := st.Get("path")
	length, _ := wire.AsInt(lengthV)
	path, _ := wire.AsSeq(pathV)
	s, ok := wire.AsString(val)
	if !ok {
		return false
	}
	parts := strings.Split(s, "/")
	if lastp := parts[len(parts)-1]; strings.Contains(lastp, " ") {
		parts[len(parts)-1] = lastp[:strings.LastIndex(lastp, " ")]
	}
	if int64(len(parts)) < length || int64(len(path)) < length {
		return false
	}
	for i := int64(0); i < length; i++ {
		p, _ := wire.AsString(path[i])
		if parts[i] != p {
			return false
		}
	}
	return true
}

func (c *conn) pack(id any, args wire.Tuple) (any, error) {
	v, err := arg(args, 0, "t")
	if err != nil {
		return nil, err
	}
	t, ok := wire.AsFloat(v)
	if !ok {
		return nil, typeErr("pack time must be a number")
	}
	wait := len(args) < 2 || wire.Truthy(args[1])
	packTID, err := tid.FromUnix(t)
	if err != nil {
		return nil, valueError("bad pack time %v: %v", t, err)
	}
	st := c.store
	run := func() error {
		c.srv.log.info("ZEO.StorageServer", "(%s) pack(time=%s) started...", c.logName(), PyFloatRepr(t))
		if err := st.st.Pack(packTID, true); err != nil {
			c.srv.log.error("ZEO.StorageServer", "(%s) pack failed: %v", c.logName(), err)
			return err
		}
		c.srv.log.info("ZEO.StorageServer", "(%s) pack(time=%s) complete", c.logName(), PyFloatRepr(t))
		st.broadcastInfo()
		return nil
	}
	if !wait {
		go run()
		return nil, nil
	}
	return nil, run()
}

// ---------------------------------------------------------------- iterators

func (c *conn) iteratorStart(id any, args wire.Tuple) (any, error) {
	it, ok := c.store.st.(storage.Iterator)
	if !ok {
		return nil, remote(ClassStorageError, "iteration is not supported by this storage")
	}
	var start, stop tid.TID
	var err error
	if len(args) > 0 && args[0] != nil {
		if start, err = argTID(args, 0, "start"); err != nil {
			return nil, err
		}
	}
	if len(args) > 1 && args[1] != nil {
		if stop, err = argTID(args, 1, "stop"); err != nil {
			return nil, err
		}
	}
	ti := &txnIter{ch: make(chan storage.TxnRecord), stop: make(chan struct{})}
	go func() {
		defer close(ti.ch)
		_ = it.Iterate(start, stop, func(r storage.TxnRecord) bool {
			select {
			case ti.ch <- r:
				return true
			case <-ti.stop:
				return false
			}
		})
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	iid := c.nextIter
	c.nextIter++
	c.iters[iid] = ti
	return iid, nil
}

func (c *conn) freeIterLocked(iid int64) {
	if ti, ok := c.iters[iid].(*txnIter); ok {
		close(ti.stop)
	}
	delete(c.iters, iid)
}

func (c *conn) iteratorNext(id any, args wire.Tuple) (any, error) {
	iid, err := argInt(args, 0, "iid", -1)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	ti, ok := c.iters[iid].(*txnIter)
	c.mu.Unlock()
	if !ok {
		return nil, remote(ClassKeyError, iid)
	}
	r, more := <-ti.ch
	if !more {
		c.mu.Lock()
		delete(c.iters, iid)
		c.mu.Unlock()
		return nil, nil
	}
	ti.last = &r
	status := string([]byte{r.Status})
	if r.Status == 0 {
		status = " "
	}
	return wire.Tuple{storage.TIDBytes(r.TID), status, nz(r.User), nz(r.Description), extDict(r.Extension)}, nil
}

func (c *conn) iteratorRecordStart(id any, args wire.Tuple) (any, error) {
	iid, err := argInt(args, 0, "txn_iid", -1)
	if err != nil {
		return nil, err
	}
	t, err := argTID(args, 1, "tid")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ti, ok := c.iters[iid].(*txnIter)
	if !ok {
		return nil, remote(ClassKeyError, iid)
	}
	if ti.last == nil || ti.last.TID != t {
		return nil, remote(ClassException, "out-of-order record iteration")
	}
	rid := c.nextIter
	c.nextIter++
	c.iters[rid] = &recIter{recs: ti.last.Records}
	return rid, nil
}

func (c *conn) iteratorRecordNext(id any, args wire.Tuple) (any, error) {
	rid, err := argInt(args, 0, "riid", -1)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ri, ok := c.iters[rid].(*recIter)
	if !ok {
		return nil, remote(ClassKeyError, rid)
	}
	if len(ri.recs) == 0 {
		delete(c.iters, rid)
		return nil, nil
	}
	r := ri.recs[0]
	ri.recs = ri.recs[1:]
	var data any
	if r.Data != nil {
		data = r.Data
	}
	return wire.Tuple{r.OID.Bytes(), storage.TIDBytes(r.TID), data, tidOrNone(r.DataTxn)}, nil
}

func (c *conn) iteratorGC(id any, args wire.Tuple) (any, error) {
	ids, _ := wire.AsSeq(first(args))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range ids {
		if iid, ok := wire.AsInt(v); ok {
			c.freeIterLocked(iid)
		}
	}
	return nil, nil
}

// isTimeout reports a deadline expiry (the handshake timeout).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
