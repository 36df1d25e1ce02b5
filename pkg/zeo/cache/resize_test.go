package cache

import (
	"strings"

	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"github.com/rs/zerolog"
	"os"
	"path/filepath"
	"testing"
)

func mustOpen(t *testing.T, p string, opt Options) *Cache {
	t.Helper()
	c, err := Open(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Shrinking fixture-1.zec to 64 KiB gives the file Python made.
func TestShrink(t *testing.T) {
	p := copyFixture(t, "fixture-1.zec", "c.zec")
	c := mustOpen(t, p, Options{Size: 65536})
	var fx fixtureJSON
	if err := json.Unmarshal(readFile(t, "testdata/resize-shrink-65536.zec.json"), &fx); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, c.Index(), fx.PythonIndex)
	c.Close()
	if !bytes.Equal(readFile(t, p), readFile(t, "testdata/resize-shrink-65536.zec")) {
		t.Error("shrunk file differs from resize-shrink-65536.zec")
	}
}

// Growing writes a free block of the real size at the old end (Python
// claimed maxsize-12 bytes, resize-grow-196608.json); the result is what
// Python's next same-size open heals it to (resize-grow-heal.json), and
// growing again keeps the cache (resize-regrow.txt: Python lost it).
func TestGrow(t *testing.T) {
	orig := readFile(t, "testdata/fixture-1.zec")
	p := copyFixture(t, "fixture-1.zec", "c.zec")
	c := mustOpen(t, p, Options{Size: 196608})
	ix := c.Index()
	if ix.Len != 160 || ix.CurrentOfs != 130922 {
		t.Errorf("after grow: len %d currentofs %d (Python: 160, 130922)", ix.Len, ix.CurrentOfs)
	}
	c.Close()
	got := readFile(t, p)
	if len(got) != 196608 || !bytes.Equal(got[:131072], orig) || got[196607] != 'x' {
		t.Fatalf("grown file: %d bytes, old part equal %v, last byte %q", len(got), bytes.Equal(got[:131072], orig), got[len(got)-1])
	}
	if h := got[131072:131077]; !bytes.Equal(h, []byte{'f', 0, 1, 0, 0}) {
		t.Errorf("free block at the old end: %x, want 6600010000 (resize-grow-heal.json)", h)
	}
	c = mustOpen(t, p, Options{Size: 196608})
	if ix := c.Index(); ix.Len != 160 {
		t.Errorf("same-size reopen: len %d", ix.Len)
	}
	c.Close()
	c = mustOpen(t, p, Options{Size: 262144})
	if ix := c.Index(); ix.Len != 160 {
		t.Errorf("regrow: len %d", ix.Len)
	}
	c.Close()
	if _, err := os.Stat(p + ".bad"); err == nil {
		t.Error("regrow made a .bad file")
	}
	if n := len(readFile(t, p)); n != 262144 {
		t.Errorf("regrown size %d", n)
	}
}

// A Python-grown file (free block running past the end) is healed when
// opened at the same size and kept when opened larger.
func TestPythonGrownFile(t *testing.T) {
	orig := readFile(t, "testdata/fixture-1.zec")
	py := make([]byte, 196608)
	copy(py, orig)
	copy(py[131072:], []byte{'f', 0, 2, 0xff, 0xf4}) // 196596, as Python wrote
	py[196607] = 'x'
	for _, size := range []int64{196608, 262144} {
		p := filepath.Join(t.TempDir(), "g.zec")
		os.WriteFile(p, py, 0o644)
		c := mustOpen(t, p, Options{Size: size})
		if ix := c.Index(); ix.Len != 160 {
			t.Errorf("size %d: len %d", size, ix.Len)
		}
		c.Close()
		got := readFile(t, p)
		want := binary.BigEndian.AppendUint32([]byte{'f'}, uint32(size-131072))
		if int64(len(got)) != size || !bytes.Equal(got[131072:131077], want) {
			t.Errorf("size %d: file %d bytes, block at old end %x", size, len(got), got[131072:131077])
		}
	}
}

// corrupt.txt: bad files are moved to .bad (or removed if one exists) and
// a fresh cache is made.
func TestBadFiles(t *testing.T) {
	fresh := func(t *testing.T, p string) {
		t.Helper()
		b := readFile(t, p)
		want := append([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), 'f', 0, 0, 3, 0xdc)
		if len(b) != 1000 || !bytes.Equal(b[:17], want) || b[999] != 'x' {
			t.Errorf("not a fresh cache: %d bytes, %x", len(b), b[:17])
		}
	}
	cases := []struct {
		name    string
		content []byte
		prevBad bool
	}{
		{"magic", bytes.Repeat([]byte("x"), 100), false},
		{"status", append([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), 'Q'), true},
		{"short header", []byte("ZEC3\x00\x00\x00\x00\x00"), false},
		{"version", func() []byte {
			b := append([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), 'a', 0, 0, 0, 43)
			b = append(b, make([]byte, 24)...)
			return append(b, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		}(), false},
		{"zero free block", append([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), 'f', 0, 0, 0, 0), false},
		{"truncated record", append([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), 'a', 0, 0, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "bad.zec")
			os.WriteFile(p, tc.content, 0o644)
			if tc.prevBad {
				os.WriteFile(p+".bad", []byte("old"), 0o644)
			}
			var logbuf bytes.Buffer
			lg := zerolog.New(&logbuf)
			c := mustOpen(t, p, Options{Size: 1000, Logger: &lg})
			if c.Len() != 0 {
				t.Errorf("len %d", c.Len())
			}
			// corrupt.txt: INFO "reusing ...", then CRITICAL.
			want := `"message":"Moving bad cache file to '` + p + `.bad'."`
			if tc.prevBad {
				want = `"message":"Removing bad cache file: '` + p + `' (prev bad exists)."`
			}
			logs := logbuf.String()
			if !strings.Contains(logs, `"levelno":20,"message":"reusing persistent cache file '`+p+`'"`) ||
				!strings.Contains(logs, `"levelno":50`) || !strings.Contains(logs, want) {
				t.Errorf("log:\n%s", logs)
			}
			c.Close()
			fresh(t, p)
			bad := readFile(t, p+".bad")
			if tc.prevBad {
				if string(bad) != "old" {
					t.Errorf(".bad replaced: %q", bad)
				}
			} else if !bytes.Equal(bad, tc.content) {
				t.Errorf(".bad = %x", bad)
			}
			if lk := readFile(t, p+".lock"); len(lk) < 3 || lk[0] != ' ' || lk[len(lk)-1] != '\n' {
				t.Errorf("lock file %q", lk)
			}
		})
	}
}

// corrupt.txt case 4: a damaged trailing oid opens fine but the load
// fails (Python: AssertionError) with a typed error.
func TestDamagedTrailer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.zec")
	c := mustOpen(t, p, Options{Size: 1000})
	c.Store(7, 0x10, 0, []byte("seven"))
	c.Close()
	b := readFile(t, p)
	b[12+43+5-8] ^= 0xff
	os.WriteFile(p, b, 0o644)
	c = mustOpen(t, p, Options{Size: 1000})
	if c.Len() != 1 {
		t.Fatalf("len %d", c.Len())
	}
	_, _, _, err := c.Load(7)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrBadFile) || ce.Offset != 12+35+5 {
		t.Fatalf("load: %v", err)
	}
	// Unlike ZEO, which fails every later load, the damaged record is
	// forgotten: the next load is a miss and a fresh store works.
	if _, _, ok, err := c.Load(7); ok || err != nil || c.Len() != 0 {
		t.Fatalf("second load: %v %v, len %d", ok, err, c.Len())
	}
	if err := c.Store(7, 0x20, 0, []byte("seven again")); err != nil {
		t.Fatal(err)
	}
	if d, _, ok, err := c.Load(7); !ok || err != nil || string(d) != "seven again" {
		t.Fatalf("load after re-store: %q %v %v", d, ok, err)
	}
}

func TestLock(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.zec")
	c := mustOpen(t, p, Options{Size: 1000})
	if _, err := Open(p, Options{Size: 1000}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	c.Close()
	c2 := mustOpen(t, p, Options{Size: 1000})
	c2.Close()
	if _, err := os.Stat(p + ".lock"); err != nil {
		t.Errorf("lock file removed: %v", err)
	}
}

func TestName(t *testing.T) {
	if n := Name("var", "fixture", "1"); n != filepath.Join("var", "fixture-1.zec") {
		t.Errorf("Name = %q", n)
	}
	if n := Name("", "c", ""); n != "c-1.zec" {
		t.Errorf("Name = %q", n)
	}
}
