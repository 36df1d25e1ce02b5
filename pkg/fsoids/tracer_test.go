package fsoids

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// TestMatchesPython compares the report with ZODB 6.3 fsoids.py's on
// the fixtures (testdata/README.md says how each was made). The data
// files are pkg/filestorage's fixtures.
func TestMatchesPython(t *testing.T) {
	for _, name := range []string{"small", "undo", "packed", "packed-input", "big"} {
		oids := []filestorage.Oid{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x63}
		if name == "big" {
			oids = []filestorage.Oid{0x3, 0x20, 0x63}
		}
		tr := New(filepath.Join("..", "filestorage", "testdata", name+".fs"))
		tr.Register(oids...)
		if err := tr.Run(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out bytes.Buffer
		if err := tr.Report(&out); err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("testdata", name+".fsoids"))
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != string(want) {
			gl, wl := strings.Split(out.String(), "\n"), strings.Split(string(want), "\n")
			for i := 0; i < len(gl) && i < len(wl); i++ {
				if gl[i] != wl[i] {
					t.Errorf("%s: line %d is %q, fsoids.py printed %q", name, i+1, gl[i], wl[i])
					break
				}
			}
			t.Errorf("%s: %d lines, fsoids.py printed %d", name, len(gl), len(wl))
		}
	}
}

// A damaged file ends the run with the iterator's error, naming it.
func TestDamagedFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "small.fs"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bad.fs")
	os.WriteFile(p, b[:len(b)-20], 0o644)
	tr := New(p)
	tr.Register(1)
	if err := tr.Run(); err == nil || !strings.Contains(err.Error(), "bad.fs") {
		t.Errorf("Run on a truncated file: %v, want an error naming it", err)
	}
}
