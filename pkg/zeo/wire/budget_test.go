package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// pickleUndoLog builds what Python's pickler (protocol 3) writes for an
// undoLog reply of n entries: every dict and string memoized, the keys
// fetched back with BINGET from the second entry on. It is the densest
// real ZEO reply in values per byte.
func pickleUndoLog(n int) []byte {
	b := []byte("\x80\x03]q\x00(")
	keys := []string{"id", "time", "user_name", "size", "description"}
	for i := 0; i < n; i++ {
		b = append(b, '}', 'r')
		b = binary.LittleEndian.AppendUint32(b, uint32(100+i*3))
		b = append(b, '(')
		for k, key := range keys {
			if i == 0 {
				b = append(b, 'X')
				b = binary.LittleEndian.AppendUint32(b, uint32(len(key)))
				b = append(b, key...)
				b = append(b, 'q', byte(1+k))
			} else {
				b = append(b, 'h', byte(1+k))
			}
			switch key {
			case "id":
				b = append(b, 'C', 8)
				b = binary.BigEndian.AppendUint64(b, uint64(i))
			case "time":
				b = append(b, 'G', 0x41, 0xda, 0, 0, 0, 0, 0, 0)
			case "size":
				b = append(b, 'K', 1)
			default:
				b = append(b, 'X', 0, 0, 0, 0, 'r')
				b = binary.LittleEndian.AppendUint32(b, uint32(101+i*3+k%2))
			}
		}
		b = append(b, 'u')
		if i%1000 == 999 {
			b = append(b, 'e', '(')
		}
	}
	return append(b, "e."...)
}

// TestValueBudget: real replies decode within the per-frame value
// budget, and frames of one-byte values (docs/reliability.md finding
// 4) are refused with ErrValueBudget instead of costing 40-100 times
// their size.
func TestValueBudget(t *testing.T) {
	const n = 2 << 20
	oids := make(List, 200000)
	for i := range oids {
		oids[i] = binary.BigEndian.AppendUint64(nil, uint64(i))
	}
	undo := make(List, 20000)
	for i := range undo {
		undo[i] = NewDict("id", binary.BigEndian.AppendUint64(nil, uint64(i)), "time", 1.7e9, "user_name", "",
			"size", int64(1), "description", "")
	}
	for _, tc := range []struct {
		name string
		v    any
	}{{"200,000 oids", Tuple{binary.BigEndian.AppendUint64(nil, 7), oids}}, {"undoLog of 20,000", undo}} {
		for _, codec := range []struct {
			name string
			enc  func(any) ([]byte, error)
			dec  func([]byte) (any, error)
		}{{"pickle", EncodePickle, DecodePickle}, {"msgpack", EncodeMsgpack, DecodeMsgpack}} {
			b, err := codec.enc(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < budgetBase {
				t.Fatalf("%s %s: %d bytes, too small to test the per-byte budget", codec.name, tc.name, len(b))
			}
			got, err := codec.dec(b)
			if err != nil {
				t.Errorf("%s %s (%d bytes): %v", codec.name, tc.name, len(b), err)
			} else if !Equal(got, tc.v) && codec.name == "pickle" {
				t.Errorf("%s %s: decoded value differs", codec.name, tc.name)
			}
		}
	}
	py := pickleUndoLog(40000)
	v, err := DecodePickle(py)
	if err != nil {
		t.Fatalf("Python-style undoLog pickle of 40,000 entries (%d bytes): %v", len(py), err)
	}
	if l, ok := v.(List); !ok || len(l) != 40000 {
		t.Fatalf("Python-style undoLog pickle: %s", Repr(v)[:min(200, len(Repr(v)))])
	}

	hostile := map[string][]byte{
		"pickle empty lists":   append(append([]byte("\x80\x03("), bytes.Repeat([]byte("]"), n)...), "l."...),
		"pickle Nones":         append(append([]byte("\x80\x03("), bytes.Repeat([]byte("N"), n)...), "l."...),
		"msgpack empty arrays": append(binary.BigEndian.AppendUint32([]byte{0xdd}, n), bytes.Repeat([]byte{0x90}, n)...),
		"msgpack fixints":      append(binary.BigEndian.AppendUint32([]byte{0xdd}, n), bytes.Repeat([]byte{0x01}, n)...),
	}
	for name, b := range hostile {
		dec := DecodePickleWithin
		if strings.HasPrefix(name, "msgpack") {
			dec = DecodeMsgpackWithin
		}
		_, err := dec(b, ServerBudgetPerByte)
		if !errors.Is(err, ErrValueBudget) {
			t.Errorf("%s (%d bytes): %v, want ErrValueBudget", name, len(b), err)
		} else if !strings.Contains(err.Error(), "bytes of values") {
			t.Errorf("%s: error %q does not say the budget", name, err)
		}
	}
}

// hostileFrames returns frames of about n bytes made of one small value
// kind repeated, each under one container, in both encodings: what a
// peer sends to make a decoder build as many values as it can.
func hostileFrames(n int) map[string][]byte {
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

// TestDecodeAllocatesWithinCost: whatever a frame holds, decoding it
// allocates at most DecodeCost(len, perByte) bytes in total (garbage
// included), measured by the runtime's own count of allocated bytes.
func TestDecodeAllocatesWithinCost(t *testing.T) {
	const n = 2 << 20
	for name, b := range hostileFrames(n) {
		for _, perByte := range []int{ServerBudgetPerByte, DefaultBudgetPerByte} {
			dec := DecodePickleWithin
			if strings.HasPrefix(name, "msgpack") {
				dec = DecodeMsgpackWithin
			}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_, err := dec(b, perByte)
			runtime.ReadMemStats(&m1)
			got := int(m1.TotalAlloc - m0.TotalAlloc)
			// the decoder's own fixed-size state (memo map, error text)
			const slack = 64 << 10
			if limit := DecodeCost(len(b), perByte) + slack; got > limit {
				t.Errorf("%s, %d per byte: decoding %d bytes allocated %d bytes (%.1fx), over DecodeCost %d (err %v)",
					name, perByte, len(b), got, float64(got)/float64(len(b)), limit, err)
			}
			if perByte == ServerBudgetPerByte && !errors.Is(err, ErrValueBudget) {
				t.Errorf("%s: %v, want ErrValueBudget under the server budget", name, err)
			}
		}
	}
}
