package zeoup

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// testdata/root-vectors.txt (made by testdata/rootvectors.py with ZODB
// 6.3): a root record Python wrote, and the record Python ZODB writes
// after root['zeoup'] = root.get('zeoup', 0) + 1. bumpZeoup must produce
// the same bytes.
func TestBumpZeoupMatchesPython(t *testing.T) {
	f, err := os.Open("testdata/root-vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 3 {
			t.Fatalf("bad line %.40q", sc.Text())
		}
		old, err1 := hex.DecodeString(col[1])
		want, err2 := hex.DecodeString(col[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad hex", col[0])
		}
		got, v, err := bumpZeoup(old)
		if err != nil {
			t.Errorf("%s: %v", col[0], err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: got\n%q\nwant\n%q", col[0], got, want)
		}
		if back, ok := zeoupValue(got); !ok || back != v {
			t.Errorf("%s: zeoupValue = %d, %v; want %d", col[0], back, ok, v)
		}
		n++
	}
	if n < 10 {
		t.Fatalf("only %d vectors", n)
	}
}

// Every revision of the root in the Python-made fixture files re-encodes
// to its own bytes (the precondition for editing it).
func TestRootRoundTripOnFixtures(t *testing.T) {
	files, _ := filepath.Glob("../../filestorage/testdata/*.fs")
	if len(files) == 0 {
		t.Fatal("no fixture Data.fs files in pkg/filestorage/testdata")
	}
	roots := 0
	for _, fn := range files {
		it, f, err := filestorage.OpenIterator(fn)
		if err != nil {
			t.Fatal(err)
		}
		for {
			tr, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", fn, err)
			}
			for _, r := range tr.Records {
				if r.Oid != 0 || len(r.Data) == 0 {
					continue
				}
				meta, state, err := decodeRecord(r.Data)
				if err != nil {
					t.Errorf("%s: decoding a root: %v", fn, err)
					continue
				}
				again, err := encodeRecord(meta, state)
				if err != nil || !bytes.Equal(again, r.Data) {
					t.Errorf("%s: root does not round-trip (%v):\n%q\n%q", fn, err, r.Data, again)
				}
				roots++
			}
		}
		f.Close()
	}
	if roots < 5 {
		t.Fatalf("only %d roots checked", roots)
	}
}

func TestBumpZeoupRefuses(t *testing.T) {
	pm := "\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03"
	cases := map[string]string{
		"string zeoup":   pm + "X\x05\x00\x00\x00zeoupq\x04X\x01\x00\x00\x00xq\x05s.",
		"protocol 2":     "\x80\x02cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x02}q\x01.",
		"other class":    "\x80\x03cfoo\nBar\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03s.",
		"non-canonical":  "\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x05s.",
		"truncated":      pm,
		"trailing bytes": pm + "s.x",
		"unknown opcode": pm + "X\x01\x00\x00\x00aq\x04S'x'\np5\ns.",
		"int as BININT":  pm + "X\x01\x00\x00\x00aq\x04J\x01\x00\x00\x00s.",
	}
	for name, rec := range cases {
		if _, _, err := bumpZeoup([]byte(rec)); !errors.Is(err, errNotEditable) {
			t.Errorf("%s: err = %v, want errNotEditable", name, err)
		}
	}
	// The empty root ZODB.DB creates is editable.
	out, n, err := bumpZeoup(emptyRoot)
	if err != nil || n != 1 {
		t.Fatalf("empty root: %v, %d", err, n)
	}
	want := pm + "X\x05\x00\x00\x00zeoupq\x04K\x01ss."
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func FuzzRootEdit(f *testing.F) {
	f.Add(emptyRoot)
	f.Add([]byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03(X\x01\x00\x00\x00aq\x04C\x08\x00\x00\x00\x00\x00\x00\x00\x01q\x05h\x00\x86q\x06QX\x01\x00\x00\x00zq\x07C\x08\x00\x00\x00\x00\x00\x00\x00\x02q\x08h\x00\x86q\tQus."))
	f.Fuzz(func(t *testing.T, rec []byte) {
		out, n, err := bumpZeoup(rec)
		if err != nil {
			if !errors.Is(err, errNotEditable) {
				t.Fatalf("error not wrapping errNotEditable: %v", err)
			}
			return
		}
		// An edited root is itself editable, and holds the new value.
		if v, ok := zeoupValue(out); !ok || v != n {
			t.Fatalf("zeoupValue %d %v, want %d", v, ok, n)
		}
		out2, n2, err := bumpZeoup(out)
		if err != nil || n2 != n+1 {
			t.Fatalf("second bump: %v %d", err, n2)
		}
		if len(out2) < len(out) {
			t.Fatalf("second bump shrank the record")
		}
	})
}
