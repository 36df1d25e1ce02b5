package client

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// The load path's costs: profiles of zeobench through this
// client showed a third of its CPU in one write syscall per call, a sixth
// in two read syscalls per reply frame and another sixth in formatting
// message ids with wire.Repr to key the pending-call map. This file holds
// the cheaper replacements: integer keys for pending calls, a writer that
// combines the frames of concurrent calls into one write, and a
// hand-written encoder for loadBefore requests.

// callKey identifies a pending call by its message id. ZEO ids are the
// integer counter of ordinary calls, or for loadBefore the (oid, tid)
// tuple itself (docs/design/wire-protocol.md: ZEO 5 clients use it so identical
// in-flight loads share one request).
type callKey struct {
	kind     uint8 // keyInt or keyLoad
	n        int64
	oid, tid uint64
}

const (
	keyInt  = 1
	keyLoad = 2
)

func intKey(n int64) callKey { return callKey{kind: keyInt, n: n} }

func loadKey(oid, t uint64) callKey { return callKey{kind: keyLoad, oid: oid, tid: t} }

// replyKey maps a reply's message id back to a callKey. ok is false for an
// id no call of ours can have (the reply is then dropped, as a Repr key
// matching nothing was before).
func replyKey(id any) (callKey, bool) {
	switch x := id.(type) {
	case int64:
		return intKey(x), true
	case bool: // Python bools are ints, but we never send one as an id
		return callKey{}, false
	case wire.Tuple:
		if len(x) != 2 {
			return callKey{}, false
		}
		o, ok1 := wire.AsBytes(x[0])
		t, ok2 := wire.AsBytes(x[1])
		if !ok1 || !ok2 || len(o) != 8 || len(t) != 8 {
			return callKey{}, false
		}
		return loadKey(binary.BigEndian.Uint64(o), binary.BigEndian.Uint64(t)), true
	}
	if n, ok := wire.AsInt(id); ok {
		return intKey(n), true
	}
	return callKey{}, false
}

// waiters are the calls waiting for one reply: usually one, more when
// identical loadBefore calls share a request. The first is kept inline so
// the common case allocates no slice.
type waiters struct {
	first chan result
	more  []chan result
}

// resultChans recycles the reply channels of calls. Each registered
// channel receives exactly one value (the reply, or the failure from
// fail) and is emptied by its caller before it goes back.
var resultChans = sync.Pool{New: func() any { return make(chan result, 1) }}

// frameWriter combines frames into as few writes as possible without
// delaying any: a sender that finds nobody writing writes at once (a lone
// call pays one syscall, as before); frames queued while a write is in
// progress are written together by that writer when it comes back. This
// is the client-side half of what the server does for replies
// (docs/performance.md, "Load path").
type frameWriter struct {
	mu      sync.Mutex
	cond    sync.Cond // signalled when written advances
	buf     []byte    // frames queued, not yet being written
	spare   []byte    // the previous write's buffer, for reuse
	busy    bool      // a sender is writing
	queued  uint64    // frames queued so far
	written uint64    // frames written (or failed) so far
	err     error     // the first write error; every later send fails with it
}

// maxSpare bounds the buffer kept for reuse, so one huge store does not
// pin its size for the connection's life.
const maxSpare = 256 << 10

// send queues one frame (appendPayload appends its payload to the
// buffer, under the writer's lock) and makes sure it gets written. With
// wait false the caller does not wait for another sender's write of its
// frame (calls learn of a failure through their reply); with wait true it
// returns that write's error (one-way calls, whose callers expect the
// write error, as before). A write error fails the connection: a frame
// cut short leaves the stream unusable.
func (c *Client) send(appendPayload func([]byte) ([]byte, error), wait bool) (err error) {
	w := &c.w
	w.mu.Lock()
	if w.err != nil {
		err = w.err
		w.mu.Unlock()
		return err
	}
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0, 0)
	b, encErr := appendPayload(w.buf)
	if encErr != nil {
		w.buf = w.buf[:start]
		w.mu.Unlock()
		return encErr
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	w.buf = b
	w.queued++
	mine := w.queued
	if w.busy {
		if wait {
			for w.written < mine {
				w.cond.Wait()
			}
			err = w.err
		}
		w.mu.Unlock()
		return err
	}
	w.busy = true
	if !wait && c.woken.Load() > 0 {
		// Callers whose replies the reader has just handed over are
		// about to send their next requests (a burst of replies wakes
		// them together). Let them run first so they queue their frames
		// behind ours, then write them all at once. A lone caller never
		// waits here: its own reply was counted off before it sent.
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
	}
	var werr error
	for len(w.buf) > 0 && w.err == nil {
		out, upto := w.buf, w.queued
		w.buf = w.spare[:0]
		w.spare = nil
		w.mu.Unlock()
		_, werr = c.nc.Write(out)
		w.mu.Lock()
		if cap(out) <= maxSpare {
			w.spare = out[:0]
		}
		w.written = upto
		if werr != nil {
			w.err = fmt.Errorf("%w: %v", ErrDisconnected, werr)
			w.buf = nil
			w.written = w.queued
		}
		w.cond.Broadcast()
	}
	w.busy = false
	err = w.err
	w.mu.Unlock()
	if werr != nil {
		c.fail(err)
	}
	return err
}

// sendMessage marshals m with the generic encoder, outside the writer's
// lock (a large store must not hold up other callers' frames), and sends
// it.
func (c *Client) sendMessage(m wire.Message, wait bool) error {
	p, err := c.enc.Encode(m)
	if err != nil {
		return err
	}
	return c.send(func(b []byte) ([]byte, error) { return append(b, p...), nil }, wait)
}

// appendLoadBefore appends the loadBefore call message
// ((oid, tid), False, "loadBefore", (oid, tid)) exactly as
// wire.Encoding.Encode marshals it (zodbpickle protocol 3 without memo,
// or msgpack with bin types), without building the generic value.
func appendLoadBefore(b []byte, enc wire.Encoding, oid, t uint64) []byte {
	const method = "loadBefore"
	if enc == wire.Msgpack {
		pair := func(b []byte) []byte {
			b = append(b, 0x92, 0xc4, 8)
			b = binary.BigEndian.AppendUint64(b, oid)
			b = append(b, 0xc4, 8)
			return binary.BigEndian.AppendUint64(b, t)
		}
		b = append(b, 0x94)
		b = pair(b)
		b = append(b, 0xc2, 0xa0|byte(len(method)))
		b = append(b, method...)
		return pair(b)
	}
	pair := func(b []byte) []byte {
		b = append(b, 'C', 8)
		b = binary.BigEndian.AppendUint64(b, oid)
		b = append(b, 'C', 8)
		b = binary.BigEndian.AppendUint64(b, t)
		return append(b, 0x86) // TUPLE2
	}
	b = append(b, 0x80, 3, '(') // PROTO 3, MARK
	b = pair(b)
	b = append(b, 0x89, 'X') // NEWFALSE, BINUNICODE
	b = binary.LittleEndian.AppendUint32(b, uint32(len(method)))
	b = append(b, method...)
	b = pair(b)
	return append(b, 't', '.') // TUPLE, STOP
}

// loadReply is a loadBefore answer parsed by parseLoadReply.
type loadReply struct {
	data       []byte
	start, end uint64
	hasEnd     bool
}

// parseLoadReply recognises the common loadBefore reply,
// ((oid, tid), 0, ".reply", (data, start, end or None)), in the pickle
// the ZEO servers send (protocol 3, no memo: ZEO/asyncio/marshal.py and
// pkg/zeo/wire), and returns its key and value without building the
// generic value tree: the generic decoder was a fifth of the client's CPU
// per load. Anything else (an error reply, another shape, other opcodes)
// gives ok false and goes through the generic decoder as before. data
// aliases frame.
func parseLoadReply(frame []byte) (key callKey, r loadReply, ok bool) {
	p := frame
	take := func(n int) []byte {
		if len(p) < n {
			ok = false
			p = nil
			return nil
		}
		b := p[:n]
		p = p[n:]
		return b
	}
	ok = true
	eight := func() uint64 { // SHORT_BINBYTES of 8 bytes
		h := take(2)
		if !ok || h[0] != 'C' || h[1] != 8 {
			ok = false
			return 0
		}
		b := take(8)
		if !ok {
			return 0
		}
		return binary.BigEndian.Uint64(b)
	}
	const reply = ".reply"
	if h := take(3); !ok || h[0] != 0x80 || h[1] != 3 || h[2] != '(' {
		return key, r, false
	}
	oid := eight()
	t := eight()
	if h := take(3); !ok || h[0] != 0x86 || h[1] != 'K' || h[2] != 0 { // TUPLE2, BININT1 0
		return key, r, false
	}
	if h := take(5 + len(reply)); !ok || h[0] != 'X' || binary.LittleEndian.Uint32(h[1:]) != uint32(len(reply)) || string(h[5:]) != reply {
		return key, r, false
	}
	h := take(1)
	if !ok {
		return key, r, false
	}
	var n int
	switch h[0] {
	case 'C': // SHORT_BINBYTES
		l := take(1)
		if !ok {
			return key, r, false
		}
		n = int(l[0])
	case 'B': // BINBYTES
		l := take(4)
		if !ok {
			return key, r, false
		}
		n = int(binary.LittleEndian.Uint32(l))
	default:
		return key, r, false
	}
	r.data = take(n)
	r.start = eight()
	if !ok {
		return key, r, false
	}
	if len(p) > 0 && p[0] == 'N' {
		p = p[1:]
	} else {
		r.end, r.hasEnd = eight(), true
	}
	if !ok || len(p) != 3 || p[0] != 0x87 || p[1] != 't' || p[2] != '.' { // TUPLE3, TUPLE, STOP
		return key, r, false
	}
	if r.data == nil {
		r.data = []byte{}
	}
	return loadKey(oid, t), r, true
}
