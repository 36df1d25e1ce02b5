package wire

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"

	ogórek "github.com/kisielk/og-rek"
)

func TestFrameRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	for _, p := range [][]byte{[]byte("Z5"), {}, bytes.Repeat([]byte{7}, 3<<20)} {
		if err := WriteFrame(&buf, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int{2, 0, 3 << 20} {
		got, err := ReadFrame(&buf, 0)
		if err != nil || len(got) != want {
			t.Fatalf("ReadFrame = %d bytes, %v; want %d", len(got), err, want)
		}
	}
	if _, err := ReadFrame(&buf, 0); err != io.EOF {
		t.Errorf("at end: %v, want EOF", err)
	}
}

func TestFrameLimits(t *testing.T) {
	_, err := ReadFrame(bytes.NewReader([]byte{0, 0, 1, 0, 1, 2}), 255)
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("over limit: %v", err)
	}
	_, err = ReadFrame(bytes.NewReader([]byte{0x80, 0, 0, 1, 1}), 0)
	if !errors.Is(err, ErrLegacyMAC) {
		t.Errorf("MAC bit: %v", err)
	}
	// A length word promising 60 MiB followed by 3 bytes must fail without
	// waiting for, or allocating, the full amount.
	_, err = ReadFrame(bytes.NewReader([]byte{0x03, 0xc0, 0, 0, 1, 2, 3}), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
}

// TestPrefixUndoFilter decodes Zope's undoInfo filter, which needs NEWOBJ
// and BUILD on the allowed ZopeUndo.Prefix global (ZEO 6.0 server_find_global).
func TestPrefixUndoFilter(t *testing.T) {
	p := []byte("\x80\x03(K\x07\x89X\x08\x00\x00\x00undoInfoK\x00K\x14}X\x09\x00\x00\x00user_namecZopeUndo.Prefix\nPrefix\n)\x81}(X\x06\x00\x00\x00lengthK\x02X\x04\x00\x00\x00path]q\x00(X\x01\x00\x00\x00aX\x01\x00\x00\x00beubs\x87t.")
	m, err := Pickle.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	spec := m.Args.(Tuple)[2].(*Dict)
	v, _ := spec.Get("user_name")
	obj, ok := v.(*Object)
	if !ok || obj.Class != (Global{"ZopeUndo.Prefix", "Prefix"}) {
		t.Fatalf("user_name = %s", Repr(v))
	}
	st := obj.State.(*Dict)
	if l, _ := st.Get("length"); l != int64(2) {
		t.Errorf("length %v", l)
	}
	if path, _ := st.Get("path"); !Equal(path, List{"a", "b"}) {
		t.Errorf("path %s", Repr(path))
	}
}

func TestUnsafeGlobal(t *testing.T) {
	for _, p := range []string{
		"\x80\x03cos\nsystem\nX\x02\x00\x00\x00ls\x85R.",
		"\x80\x03c_codecs\nencode\n.",
	} {
		_, err := DecodePickle([]byte(p))
		if !errors.Is(err, ErrUnsafeGlobal) {
			t.Errorf("%q: %v, want ErrUnsafeGlobal", p, err)
		}
	}
}

// TestPython2Protocol1 decodes what a ZEO 5.0/5.1 Python 2 client sends:
// no PROTO, py2 str as SHORT_BINSTRING, binary via zodbpickle.binary.
func TestPython2Protocol1(t *testing.T) {
	p := []byte("(K\x01I00\nU\x08registerq\x01(U\x011K\x00tt.")
	m, err := Pickle.Decode(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Method != "register" || m.Async() {
		t.Errorf("got %s", Repr(Tuple{m.ID, m.Flags, m.Method, m.Args}))
	}
	v, err := DecodePickle([]byte("czodbpickle\nbinary\n(U\x03abctR."))
	if err != nil || !Equal(v, []byte("abc")) {
		t.Errorf("binary: %s %v", Repr(v), err)
	}
}

func TestBigInts(t *testing.T) {
	big1 := new(big.Int).Lsh(big.NewInt(1), 63) // beyond int64: LONG1 / uint64
	for _, v := range []any{int64(139909139381264), int64(-1), int64(-129), int64(1 << 40), big1, int64(-1 << 40)} {
		p, err := EncodePickle(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodePickle(p)
		if err != nil || !Equal(back, v) {
			t.Errorf("pickle %v -> %x -> %v %v", v, p, back, err)
		}
		// og-rek is an independent decoder: our bytes must mean the same there.
		og, err := ogórek.NewDecoder(bytes.NewReader(p)).Decode()
		if err != nil {
			t.Errorf("og-rek: %v", err)
		} else if k1, _ := IntKey(v); !strings.EqualFold(k1, ogString(og)) {
			t.Errorf("og-rek read %v as %v", v, og)
		}
		m, err := EncodeMsgpack(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err = DecodeMsgpack(m)
		if err != nil || !Equal(back, v) {
			t.Errorf("msgpack %v -> %x -> %v %v", v, m, back, err)
		}
	}
}

func ogString(v any) string {
	switch x := v.(type) {
	case *big.Int:
		return x.String()
	case int64:
		return big.NewInt(x).String()
	}
	return "?"
}

func TestRoundTripValues(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000)
	v := Tuple{int64(5), false, "vote", Tuple{
		nil, true, 1.5, []byte{}, long, "é", List{}, List{int64(1)},
		NewDict("a", int64(1), "b", List{[]byte("z")}), &Dict{}, Tuple{Tuple{}},
	}}
	for _, enc := range []Encoding{Pickle, Msgpack} {
		b, err := enc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := enc.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		want := any(v)
		if enc == Msgpack {
			want = listsToTuples(v)
		}
		if !Equal(back, want) {
			t.Errorf("%v: %s != %s", enc, Repr(back), Repr(want))
		}
	}
}

// listsToTuples mirrors msgpack's lack of a list type.
func listsToTuples(v any) any {
	switch x := v.(type) {
	case Tuple:
		out := make(Tuple, len(x))
		for i := range x {
			out[i] = listsToTuples(x[i])
		}
		return out
	case List:
		return listsToTuples(Tuple(x))
	case *Dict:
		d := &Dict{}
		for _, it := range x.Items {
			d.Set(it.Key, listsToTuples(it.Value))
		}
		return d
	}
	return v
}

func TestCyclicPickleRejected(t *testing.T) {
	// EMPTY_DICT PUT 0, key, GET 0, SETITEM: a dict containing itself.
	_, err := DecodePickle([]byte("\x80\x03}q\x00K\x01h\x00s."))
	if !errors.Is(err, ErrPickle) {
		t.Errorf("cyclic pickle: %v", err)
	}
}

func TestMsgpackRejects(t *testing.T) {
	for _, b := range [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},       // array of 4G elements, no data
		{0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00}, // bin32 beyond data
		{0x81, 0x01, 0x02},                   // int map key
		{0xa2, 0xff, 0xfe},                   // invalid UTF-8 str
		{0x90, 0x90},                         // trailing bytes
		{0xd4, 0x01, 0x02},                   // ext type
	} {
		if _, err := DecodeMsgpack(b); !errors.Is(err, ErrMsgpack) {
			t.Errorf("%x: %v", b, err)
		}
	}
}
