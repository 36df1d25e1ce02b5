package client

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// The hand-written loadBefore request must be byte-identical to what the
// generic encoder makes of the same message, in both encodings.
func TestAppendLoadBeforeMatchesEncode(t *testing.T) {
	cases := [][2]uint64{{0, 0}, {1, 0x7fffffffffffffff}, {0x0102030405060708, 0x03e8c0ffee000000}, {^uint64(0), ^uint64(0)}}
	for _, enc := range []wire.Encoding{wire.Pickle, wire.Msgpack} {
		for _, c := range cases {
			o, tb := be8(c[0]), be8(c[1])
			want, err := enc.Encode(wire.Message{ID: wire.Tuple{o, tb}, Flags: false, Method: "loadBefore", Args: wire.Tuple{o, tb}})
			if err != nil {
				t.Fatal(err)
			}
			got := appendLoadBefore([]byte("xx"), enc, c[0], c[1])
			if !bytes.Equal(got[2:], want) || string(got[:2]) != "xx" {
				t.Errorf("%v %x: got % x, want % x", enc, c, got[2:], want)
			}
			m, err := enc.Decode(got[2:])
			if err != nil {
				t.Fatal(err)
			}
			k, ok := replyKey(m.ID)
			if !ok || k != loadKey(c[0], c[1]) {
				t.Errorf("%v: key of decoded id %v = %+v %v", enc, m.ID, k, ok)
			}
		}
	}
}

func be8(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[7-i] = byte(v >> (8 * i))
	}
	return b
}

// Reply ids map to the key their call was registered under; ids no call
// of ours has are refused.
func TestReplyKey(t *testing.T) {
	good := []struct {
		id   any
		want callKey
	}{
		{int64(7), intKey(7)},
		{int(7), intKey(7)},
		{big.NewInt(9), intKey(9)},
		{wire.Tuple{be8(1), be8(2)}, loadKey(1, 2)},
		{wire.Tuple{string(be8(3)), be8(4)}, loadKey(3, 4)},
	}
	for _, g := range good {
		k, ok := replyKey(g.id)
		if !ok || k != g.want {
			t.Errorf("replyKey(%v) = %+v %v, want %+v", g.id, k, ok, g.want)
		}
	}
	for _, id := range []any{true, nil, "x", wire.Tuple{be8(1)}, wire.Tuple{be8(1), []byte{1}}, wire.Tuple{int64(1), be8(2)}} {
		if k, ok := replyKey(id); ok {
			t.Errorf("replyKey(%#v) = %+v, want refused", id, k)
		}
	}
}

func loadReplyFrame(t testing.TB, oid, tb uint64, flags any, v any) []byte {
	b, err := wire.Pickle.Encode(wire.Message{ID: wire.Tuple{be8(oid), be8(tb)}, Flags: flags, Method: wire.ReplyMethod, Args: v})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLoadReply compares parseLoadReply's answer with the generic
// decoder's reading of the same frame, the way reader and LoadBefore use
// them.
func checkLoadReply(t testing.TB, frame []byte) bool {
	key, lr, ok := parseLoadReply(frame)
	if !ok {
		return false
	}
	m, err := wire.Pickle.Decode(frame)
	if err != nil {
		t.Fatalf("fast path accepted % x, generic decoder refuses it: %v", frame, err)
	}
	gk, gok := replyKey(m.ID)
	if !gok || gk != key || m.IsError() || m.Method != wire.ReplyMethod || m.IsHeartbeat() {
		t.Fatalf("fast path key %+v, generic message %#v", key, m)
	}
	tu, isT := wire.AsSeq(m.Args)
	if !isT || len(tu) != 3 {
		t.Fatalf("fast path accepted args %#v", m.Args)
	}
	data, _ := wire.AsBytes(tu[0])
	start, _ := wire.AsBytes(tu[1])
	if !bytes.Equal(data, lr.data) || lr.data == nil || len(start) != 8 || be8(lr.start) == nil || !bytes.Equal(start, be8(lr.start)) {
		t.Fatalf("fast path data %q start %x, generic %q %x", lr.data, lr.start, data, start)
	}
	if (tu[2] != nil) != lr.hasEnd {
		t.Fatalf("fast path hasEnd %v, generic end %#v", lr.hasEnd, tu[2])
	}
	if lr.hasEnd {
		e, _ := wire.AsBytes(tu[2])
		if !bytes.Equal(e, be8(lr.end)) {
			t.Fatalf("fast path end %x, generic %x", lr.end, e)
		}
	}
	return true
}

func TestParseLoadReply(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 70000} {
		data := bytes.Repeat([]byte{'d'}, n)
		for _, end := range []any{nil, be8(0x03e8000000000002)} {
			f := loadReplyFrame(t, 5, ^uint64(0)>>1, wire.FlagReply, wire.Tuple{data, be8(0x03e8000000000001), end})
			if !checkLoadReply(t, f) {
				t.Errorf("fast path refused a plain reply (%d bytes, end %v): % .40x", n, end, f)
			}
		}
	}
	// Replies the fast path must leave to the generic decoder.
	refused := map[string][]byte{
		"error":     loadReplyFrame(t, 5, 6, wire.FlagError, wire.Tuple{"ZODB.POSException.POSKeyError", wire.Tuple{be8(5)}}),
		"None":      loadReplyFrame(t, 5, 6, wire.FlagReply, nil),
		"int id":    mustEncode(t, wire.Message{ID: int64(3), Flags: wire.FlagReply, Method: wire.ReplyMethod, Args: wire.Tuple{[]byte("x"), be8(1), nil}}),
		"str data":  loadReplyFrame(t, 5, 6, wire.FlagReply, wire.Tuple{"x", be8(1), nil}),
		"short tid": loadReplyFrame(t, 5, 6, wire.FlagReply, wire.Tuple{[]byte("x"), []byte{1}, nil}),
	}
	for name, f := range refused {
		if checkLoadReply(t, f) {
			t.Errorf("%s: fast path accepted % x", name, f)
		}
	}
	good := loadReplyFrame(t, 5, 6, wire.FlagReply, wire.Tuple{[]byte("xyz"), be8(1), nil})
	for i := range len(good) {
		if _, _, ok := parseLoadReply(good[:i]); ok {
			t.Errorf("fast path accepted a frame cut at %d", i)
		}
	}
	if _, _, ok := parseLoadReply(append(append([]byte{}, good...), 'N')); ok {
		t.Error("fast path accepted trailing bytes")
	}
}

func mustEncode(t testing.TB, m wire.Message) []byte {
	b, err := wire.Pickle.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseLoadReply: whatever the fast path accepts, the generic decoder
// reads the same way.
func FuzzParseLoadReply(f *testing.F) {
	f.Add(loadReplyFrame(f, 5, 6, wire.FlagReply, wire.Tuple{[]byte("xyz"), be8(1), nil}))
	f.Add(loadReplyFrame(f, 5, 6, wire.FlagReply, wire.Tuple{bytes.Repeat([]byte{1}, 300), be8(1), be8(2)}))
	f.Add(loadReplyFrame(f, 5, 6, wire.FlagError, wire.Tuple{"ZODB.POSException.POSKeyError", wire.Tuple{be8(5)}}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkLoadReply(t, frame)
	})
}
