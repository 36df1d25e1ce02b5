package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// extensionBytes does what the Go server does with a tpc_begin
// extension (pkg/zeo/server copies the items, pkg/zeo/fsstorage rebuilds
// the dict with Set and pickles it): b"" for an empty dict.
func extensionBytes(t *testing.T, msg any) []byte {
	t.Helper()
	m, ok := msg.(Tuple)
	if !ok || len(m) != 4 {
		t.Fatalf("message %s is not a 4-tuple", Repr(msg))
	}
	args, ok := m[3].(Tuple)
	if !ok || len(args) < 4 {
		t.Fatalf("args %s", Repr(m[3]))
	}
	ext, ok := args[3].(*Dict)
	if !ok {
		t.Fatalf("extension %s is not a dict", Repr(args[3]))
	}
	if ext.Len() == 0 {
		return nil
	}
	d := &Dict{}
	for _, it := range ext.Items {
		d.Set(it.Key, it.Value)
	}
	b, err := EncodePickleMemo(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodePickleMemoMatchesPython: testdata/extension-vectors.txt was
// made by testdata/extvectors.py with zodbpickle 3 (C Pickler) and
// msgpack 1.0 on CPython 3.11: the extension bytes the Python ZEO server
// + FileStorage store for a client's tpc_begin (interop finding 6).
func TestEncodePickleMemoMatchesPython(t *testing.T) {
	f, err := os.Open("testdata/extension-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 5 {
			t.Fatalf("bad vector line %.40q", sc.Text())
		}
		name := col[0]
		unhex := func(s string) []byte {
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return b
		}
		msg, err := DecodePickle(unhex(col[1]))
		if err != nil {
			t.Fatalf("%s: decoding the Z5 message: %v", name, err)
		}
		if got, want := extensionBytes(t, msg), unhex(col[3]); !bytes.Equal(got, want) {
			t.Errorf("%s (Z5): got\n%q\nwant\n%q", name, got, want)
		}
		n++
		// Over msgpack, Python's unpacker interns str map keys and its
		// 1-char key may or may not be the singleton a value uses
		// (process-dependent), so "singletons" is only checked for Z5.
		if col[2] == "-" || name == "singletons" {
			continue
		}
		msg, err = DecodeMsgpack(unhex(col[2]))
		if err != nil {
			t.Fatalf("%s: decoding the M5 message: %v", name, err)
		}
		if got, want := extensionBytes(t, msg), unhex(col[4]); !bytes.Equal(got, want) {
			t.Errorf("%s (M5): got\n%q\nwant\n%q", name, got, want)
		}
	}
	if n < 10 {
		t.Fatalf("only %d vectors", n)
	}
}

// The example of interop finding 6, spelled out.
func TestEncodePickleMemoFinding6(t *testing.T) {
	got, err := EncodePickleMemo(NewDict("n", int64(0)))
	if err != nil {
		t.Fatal(err)
	}
	want := "\x80\x03}q\x00X\x01\x00\x00\x00nq\x01K\x00s."
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// And it still decodes to the same dict.
	v, err := DecodePickle(got)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(v, NewDict("n", int64(0))) {
		t.Fatalf("decoded %s", Repr(v))
	}
}

func TestEncodePickleMemoLongBinPut(t *testing.T) {
	l := make(List, 300)
	for i := range l {
		l[i] = "s" + strings.Repeat("x", i%3+1) + string(rune('a'+i%26))
	}
	b, err := EncodePickleMemo(l)
	if err != nil {
		t.Fatal(err)
	}
	// memo index 256 is the first LONG_BINPUT: 'r' + 4 bytes little endian.
	if !bytes.Contains(b, []byte("r\x00\x01\x00\x00")) {
		t.Fatalf("no LONG_BINPUT 256 in %q", b[len(b)-200:])
	}
	v, err := DecodePickle(b)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(v, l) {
		t.Fatal("round trip changed the list")
	}
	if _, err := EncodePickleMemo(Global{"os", "system"}); err == nil {
		t.Fatal("a Global was pickled")
	}
}
