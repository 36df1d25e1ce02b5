package wire

import (
	"bytes"
	"testing"
)

// The fuzz targets check that no input makes a decoder panic, that decoded
// values re-encode, and that re-encoded bytes decode to an equal value.
// Seeds live in testdata/fuzz/FuzzXxx (recorded frames and edge cases).

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'Z', '5'})
	f.Add([]byte{0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			p, err := ReadFrame(r, 1<<16)
			if err != nil {
				return
			}
			if len(p) > 1<<16 {
				t.Fatalf("frame of %d bytes over the limit", len(p))
			}
		}
	})
}

func fuzzCodec(t *testing.T, enc Encoding, data []byte) {
	v, err := enc.Unmarshal(data)
	if err != nil {
		return
	}
	out, err := enc.Marshal(v)
	if err != nil {
		// Globals/objects decode but are never sent; anything else must encode.
		return
	}
	back, err := enc.Unmarshal(out)
	if err != nil {
		t.Fatalf("re-encoded value does not decode: %v\n%x", err, out)
	}
	if !Equal(v, back) {
		t.Fatalf("round trip changed the value: %s -> %s", Repr(v), Repr(back))
	}
}

func FuzzPickle(f *testing.F) {
	f.Add([]byte("\x80\x03(K\x01\x89X\x08\x00\x00\x00registerX\x01\x00\x00\x001K\x00\x86t."))
	// dict(((key, value),)): a dict subclass's __reduce__ (TestDictReduce).
	f.Add([]byte("\x80\x03cbuiltins\ndict\nq\x00X\x03\x00\x00\x00fooq\x01K\x01\x86q\x02\x85q\x03\x85q\x04Rq\x05."))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCodec(t, Pickle, data) })
}

func FuzzMsgpack(f *testing.F) {
	f.Add([]byte("\x94\x01\xc2\xa8register\x92\xa11\xc2"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCodec(t, Msgpack, data) })
}

// FuzzPickleMemo: whatever the pickle decoder accepts and the wire encoder
// can send, the memoized (FileStorage extension) encoding decodes to an
// equal value.
func FuzzPickleMemo(f *testing.F) {
	f.Add([]byte("\x80\x03}q\x00X\x01\x00\x00\x00nq\x01K\x00s."))
	f.Add([]byte("\x80\x03}q\x00(X\x01\x00\x00\x00aq\x01h\x01X\x01\x00\x00\x00lq\x02]q\x03(K\x01)eu."))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodePickle(data)
		if err != nil {
			return
		}
		if _, err := EncodePickle(v); err != nil {
			return
		}
		out, err := EncodePickleMemo(v)
		if err != nil {
			t.Fatalf("EncodePickle accepted %s but EncodePickleMemo failed: %v", Repr(v), err)
		}
		back, err := DecodePickle(out)
		if err != nil {
			t.Fatalf("memoized bytes do not decode: %v\n%x", err, out)
		}
		if !Equal(v, back) {
			t.Fatalf("round trip changed the value: %s -> %s", Repr(v), Repr(back))
		}
	})
}
