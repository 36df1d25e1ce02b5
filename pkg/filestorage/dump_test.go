package filestorage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFixtures(t *testing.T) {
	for _, n := range fixtureNames {
		var out bytes.Buffer
		err := Check(filepath.Join("testdata", n+".fs"), CheckOptions{Verbose: 2, Out: &out, Pointers: true})
		if err != nil {
			t.Errorf("%s: %v", n, err)
		}
		if !strings.HasSuffix(out.String(), "no errors detected") || !strings.Contains(out.String(), ": transaction tid 0x") {
			t.Errorf("%s: output %q", n, out.String()[:100])
		}
	}
}

func TestCheckDamage(t *testing.T) {
	orig, _ := os.ReadFile(filepath.Join("testdata", "small.fs"))
	p := filepath.Join(t.TempDir(), "Data.fs")
	cases := []struct {
		name string
		mut  func(b []byte) []byte
		want string
	}{
		{"empty", func(b []byte) []byte { return nil }, "empty file"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "invalid file header"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, "truncated possibly because of damaged records at"},
		{"checkpoint", func(b []byte) []byte { b[4+16] = 'c'; return b }, "checkpoint flag was not cleared at 4"},
		{"status", func(b []byte) []byte { b[4+16] = 'x'; return b }, "has invalid status 'b'x'' at 4"},
		{"tid order", func(b []byte) []byte { copy(b[4:12], []byte{0xff, 0, 0, 0, 0, 0, 0, 0}); return b }, "time-stamp reduction at"},
		{"redundant", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, "inconsistent transaction length"},
	}
	for _, c := range cases {
		os.WriteFile(p, c.mut(append([]byte{}, orig...)), 0o644)
		err := Check(p, CheckOptions{})
		if !errors.Is(err, ErrCheck) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestDumpUndo(t *testing.T) {
	var out bytes.Buffer
	if err := Dump(filepath.Join("testdata", "undo.fs"), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	m := loadManifest(t, "undo")
	tx := m.Transactions[4]
	want := "Trans #00004 tid=" + tx.TID + " size=186 time=" + tx.TIDTime + " offset=1289"
	found := false
	for i, l := range lines {
		if l == want {
			found = true
			if lines[i+1] != "    status=' ' user=b'/ u' description=b'T4 undo T3'" {
				t.Errorf("status line %q", lines[i+1])
			}
			if lines[i+2] != "  data #00000 oid=0000000000000001 size=75 class=persistent.mapping.PersistentMapping bp="+*tx.Records[0].DataTxn {
				t.Errorf("record line %q", lines[i+2])
			}
			if lines[i+4] != "  data #00002 oid=0000000000000003 class=undo or abort of object creation" {
				t.Errorf("undone creation line %q", lines[i+4])
			}
		}
	}
	if !found {
		t.Fatalf("no line %q in\n%s", want, out.String())
	}
	if PyBytesRepr([]byte("it's")) != `b"it's"` || PyBytesRepr([]byte("\xe2\x98\x83\n")) != `b'\xe2\x98\x83\n'` {
		t.Errorf("repr: %s %s", PyBytesRepr([]byte("it's")), PyBytesRepr([]byte("\xe2\x98\x83\n")))
	}
}

// TestProgress: no bar off a terminal or for small files; the callback
// sees the walk advance to the end.
func TestProgress(t *testing.T) {
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if bar, done := TerminalProgress(w, "x", 1<<30); bar != nil {
		t.Error("bar on a pipe")
	} else {
		done()
	}
	var last, total int64
	err := Check(filepath.Join("testdata", "big.fs"), CheckOptions{Progress: func(d, tt int64) { last, total = d, tt }})
	if err != nil || total == 0 || last <= 4 || last > total {
		t.Errorf("progress %d/%d %v", last, total, err)
	}
}
