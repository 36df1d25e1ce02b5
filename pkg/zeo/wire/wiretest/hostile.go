package wiretest

import (
	"bytes"
	"encoding/binary"
)

// HostileFrames returns frames of about n bytes made of one small value
// kind repeated, each under one container, in both encodings: what a
// peer sends to make a decoder build as many values as it can.
func HostileFrames(n int) map[string][]byte {
	out := map[string][]byte{}
	pk := func(name, prefix, unit, suffix string) {
		b := append([]byte("\x80\x03"), prefix...)
		b = append(b, bytes.Repeat([]byte(unit), n/len(unit))...)
		out["pickle "+name] = append(b, suffix...)
	}
	for _, u := range []struct{ name, unit string }{
		{"N", "N"}, {"]", "]"}, {"}", "}"}, {")", ")"}, {"(", "("}, {"NEWTRUE", "\x88"},
		{"K", "K\x07"}, {"J", "J\x00\x00\x00\x40"}, {"G", "G\x3f\xf0\x00\x00\x00\x00\x00\x00"},
		{"empty bytes", "C\x00"}, {"empty str", "\x8c\x00"}, {"empty BINUNICODE", "X\x00\x00\x00\x00"},
		{"empty SHORT_BINSTRING", "U\x00"}, {"memo GET", "h\x00"},
	} {
		pk(u.name, "N\x94(", u.unit, "l.")
	}
	pk("DUP", "N\x94(N", "2", "l.")
	pk("APPEND", "]", "Na", ".")
	pk("SETITEM distinct keys", "}", "J\x00\x00\x00\x00Ns", ".")
	pk("TUPLE1", "N", "\x85", ".")
	// distinct int keys: patch a counter into each J operand
	b := out["pickle SETITEM distinct keys"]
	k := uint32(0)
	for i := 3; i+7 <= len(b) && b[i] == 'J'; i += 7 {
		binary.LittleEndian.PutUint32(b[i+1:], k)
		k++
	}
	mp := func(name string, unit []byte) {
		b := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n/len(unit)))
		out["msgpack "+name] = append(b, bytes.Repeat(unit, n/len(unit))...)
	}
	mp("empty array", []byte{0x90})
	mp("empty map", []byte{0x80})
	mp("nil", []byte{0xc0})
	mp("fixint", []byte{0x01})
	mp("empty str", []byte{0xa0})
	mp("empty bin", []byte{0xc4, 0x00})
	mp("float64", []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0})
	return out
}
