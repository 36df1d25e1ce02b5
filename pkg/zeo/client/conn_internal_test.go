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
