package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/wire/wiretest"
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

// TestDecodeAllocatesWithinCost: whatever a frame holds, decoding it
// allocates at most DecodeCost(len, perByte) bytes in total (garbage
// included), measured by the runtime's own count of allocated bytes.
func TestDecodeAllocatesWithinCost(t *testing.T) {
	const n = 2 << 20
	for name, b := range wiretest.HostileFrames(n) {
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
			if limit := DecodeCost(len(b), perByte)*raceAllocFactor + slack; got > limit {
				t.Errorf("%s, %d per byte: decoding %d bytes allocated %d bytes (%.1fx), over DecodeCost %d (err %v)",
					name, perByte, len(b), got, float64(got)/float64(len(b)), limit, err)
			}
			if perByte == ServerBudgetPerByte && !errors.Is(err, ErrValueBudget) {
				t.Errorf("%s: %v, want ErrValueBudget under the server budget", name, err)
			}
		}
	}
}
