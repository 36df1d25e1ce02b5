package filestorage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A damaged file dumps like Python's fsdump: the transactions before the
// damage, then FileIterator's one warning naming the file as given, and
// no error.
func TestDumpTolerantWarnings(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "undo.fs"))
	if err != nil {
		t.Fatal(err)
	}
	var full bytes.Buffer
	// Relative names, as typed on a command line, are what is printed.
	t.Chdir(t.TempDir())
	whole := "whole.fs"
	if err := os.WriteFile(whole, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Dump(whole, &full); err != nil {
		t.Fatal(err)
	}
	var tol, warn bytes.Buffer
	if err := DumpTolerant(whole, &tol, &warn, nil); err != nil || tol.String() != full.String() || warn.Len() != 0 {
		t.Fatalf("undamaged file: err %v, warnings %q, same output %v", err, warn.String(), tol.String() == full.String())
	}

	for _, tc := range []struct {
		name string
		size int // keep this many bytes
		want string
	}{
		{"bad.fs", 100, "bad.fs truncated, possibly due to damaged records at 4\n"},
		{"cut.fs", len(src) - 3, "cut.fs truncated, possibly due to damaged records at "},
	} {
		if err := os.WriteFile(tc.name, src[:tc.size], 0o644); err != nil {
			t.Fatal(err)
		}
		tol.Reset()
		warn.Reset()
		err := DumpTolerant(tc.name, &tol, &warn, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !strings.HasPrefix(warn.String(), tc.want) || strings.Count(warn.String(), "\n") != 1 {
			t.Errorf("%s: warning %q, want %q", tc.name, warn.String(), tc.want)
		}
		if !strings.HasPrefix(full.String(), tol.String()) {
			t.Errorf("%s: output is not a prefix of the whole file's", tc.name)
		}
	}
}

// FuzzDumpTolerant: any file either dumps (with at most a few warnings) or
// fails with ErrCorrupt/ErrFormat; nothing panics or hangs.
func FuzzDumpTolerant(f *testing.F) {
	for _, n := range []string{"small", "undo"} {
		if b, err := os.ReadFile(filepath.Join("testdata", n+".fs")); err == nil {
			f.Add(b)
			f.Add(b[:len(b)/2])
		}
	}
	f.Add([]byte("FS30"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "Data.fs")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var out, warn bytes.Buffer
		err := DumpTolerant(p, &out, &warn, nil)
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
			t.Fatalf("unclear error %v", err)
		}
		// (A status byte such as '\n' is printed raw, as Python does, so
		// a warning may span lines; it still starts with the file name.)
		if w := warn.String(); w != "" && !strings.HasPrefix(w, p+" ") {
			t.Fatalf("warning %q does not name the file", w)
		}
	})
}
