package filestorage

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseIndex feeds damaged .index files to the loader: it must
// return a value or an error wrapping ErrBadIndex, never panic, and what
// it accepts must save and load back to the same content.
func FuzzParseIndex(f *testing.F) {
	for _, n := range fixtureNames {
		if b, err := os.ReadFile(filepath.Join("testdata", n+".fs.index")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pos, idx, err := ParseIndex("fuzz.index", data)
		if err != nil {
			if !errors.Is(err, ErrBadIndex) {
				t.Fatalf("error does not wrap ErrBadIndex: %v", err)
			}
			return
		}
		p := filepath.Join(t.TempDir(), "x.index")
		if err := WriteIndex(p, pos, idx); err != nil {
			t.Fatal(err)
		}
		pos2, idx2, err := ReadIndex(p)
		if err != nil || pos2 != pos || idx2.Len() != idx.Len() {
			t.Fatalf("round trip: %d %v", pos2, err)
		}
		idx.Range(func(o Oid, v int64) bool {
			if w, ok := idx2.Get(o); !ok || w != v {
				t.Fatalf("oid %d: %d, want %d", o, w, v)
			}
			return true
		})
	})
}

// FuzzOpen feeds damaged data files to a read-only open, the iterator and
// the loads: errors must be clear (ErrCorrupt or ErrFormat), never a
// panic or a hang.
func FuzzOpen(f *testing.F) {
	for _, n := range []string{"small", "undo", "packed"} {
		if b, err := os.ReadFile(filepath.Join("testdata", n+".fs")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("FS30"))
	f.Add([]byte("FS21\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "Data.fs")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormat) {
				t.Fatalf("open: unclear error %v", err)
			}
			return
		}
		defer s.Close()
		it := s.Iterate(0, 0)
		for {
			_, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("iterate: unclear error %v", err)
				}
				break
			}
		}
		var next Oid
		for n := 0; n < 1000; n++ {
			oid, _, _, ok, err := s.NextOid(next)
			if !ok {
				break
			}
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("load: unclear error %v", err)
			}
			s.History(oid, 10)
			s.LoadBefore(oid, 1<<62)
			next = oid + 1
		}
		s.UndoLog(0, -20, nil)
	})
}

// FuzzRecover runs fsrecover on damaged files: it must finish without
// panicking, and what it writes must pass fstest.
func FuzzRecover(f *testing.F) {
	for _, n := range []string{"small", "undo"} {
		if b, err := os.ReadFile(filepath.Join("testdata", n+".fs")); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.fs"), filepath.Join(dir, "out.fs")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Recover(in, out, RecoverOptions{NoSync: true}, io.Discard); err != nil {
			return
		}
		if err := Check(out, CheckOptions{Pointers: true}); err != nil && !errors.Is(err, ErrCheck) {
			t.Fatal(err)
		} else if err != nil && !strings.Contains(err.Error(), "empty file") {
			t.Fatalf("recovered file fails fstest: %v", err)
		}
	})
}
