package fstail

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTailMatchesPython compares Tail with the output of ZODB 6.3's
// fstail.py on the fixtures (testdata/golden/README.md says how each
// golden file was made).
func TestTailMatchesPython(t *testing.T) {
	for _, name := range []string{"small", "undo", "packed", "packed-input", "big"} {
		path := filepath.Join("..", "filestorage", "testdata", name+".fs")
		tails := map[string]int{name + ".fstail": 10}
		switch name {
		case "small":
			tails["small.fstail-n2"] = 2
		case "big":
			tails["big.fstail-n50"] = 50
		}
		for golden, n := range tails {
			var out bytes.Buffer
			if err := Tail(path, n, &out); err != nil {
				t.Fatalf("Tail(%s, %d): %v", name, n, err)
			}
			sameAsGolden(t, golden, out.Bytes())
		}
	}
}

func sameAsGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", "golden", golden))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) && i < len(wl); i++ {
			if gl[i] != wl[i] {
				t.Errorf("%s: line %d is %q, Python printed %q", golden, i+1, gl[i], wl[i])
				return
			}
		}
		t.Errorf("%s: %d lines, Python printed %d", golden, len(gl), len(wl))
	}
}

// Damage on the way back from the end is an error naming the file and
// offset, after the transactions read so far.
func TestTailDamaged(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "small.fs"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"magic-only.fs", b[:4], "transaction length at offset -4, before the start of the file"},
		{"cut.fs", b[:len(b)-3], "runs before the start of the file"},
		{"badlen.fs", append(append([]byte(nil), b[:len(b)-8]...), 0, 0, 0, 0, 0, 0, 0x0f, 0xff), "offset 2677: transaction length 4095 runs before the start of the file"},
	} {
		p := filepath.Join(dir, tc.name)
		os.WriteFile(p, tc.data, 0o644)
		var out bytes.Buffer
		err := Tail(p, 10, &out)
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Tail(%s): %v, want an error naming the file and %q", tc.name, err, tc.want)
		}
	}
}

// FuzzTail: Tail on any file content ends with output or an error,
// never a panic or a runaway loop.
func FuzzTail(f *testing.F) {
	for _, name := range []string{"small.fs", "undo.fs", "packed.fs"} {
		b, err := os.ReadFile(filepath.Join("..", "filestorage", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 3)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		p := filepath.Join(dir, "t.fs")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		Tail(p, n%100, &out)
	})
}
