package cache

import (
	"bytes"
	"fmt"
	"strings"

	"encoding/binary"
	"github.com/rs/zerolog"
	"os"
	"path/filepath"
	"testing"
)

// walk checks that the blocks tile the file from the header to its end
// and that every index entry points at a matching record that starts a
// block, no two entries at the same block (so no two indexed records
// overlap).
func walk(t *testing.T, c *Cache) {
	t.Helper()
	b, err := os.ReadFile(c.path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != c.maxsize {
		t.Fatalf("file is %d bytes, maxsize %d", len(b), c.maxsize)
	}
	ofs := int64(HeaderSize)
	starts := map[int64]bool{} // block starts
	for ofs < c.maxsize {
		starts[ofs] = true
		var size int64
		switch st := b[ofs]; st {
		case 'a', 'f':
			if ofs+5 > c.maxsize {
				t.Fatalf("block header at %d runs past the end", ofs)
			}
			size = int64(binary.BigEndian.Uint32(b[ofs+1:]))
		case '1', '2', '3', '4':
			size = int64(st - '0')
		default:
			t.Fatalf("status %#x at %d", st, ofs)
		}
		if size <= 0 {
			t.Fatalf("block of %d bytes at %d", size, ofs)
		}
		ofs += size
	}
	if ofs != c.maxsize {
		t.Fatalf("blocks end at %d, file at %d", ofs, c.maxsize)
	}
	n := 0
	seen := map[int64]bool{}
	entry := func(o int64, what string) {
		if !starts[o] {
			t.Fatalf("%s -> %d is not the start of a block", what, o)
		}
		if seen[o] {
			t.Fatalf("%s -> %d: another index entry points there too", what, o)
		}
		seen[o] = true
	}
	for oid, o := range c.current {
		entry(o, fmt.Sprintf("current[%x]", oid))
		if b[o] != 'a' || binary.BigEndian.Uint64(b[o+5:]) != oid || binary.BigEndian.Uint64(b[o+21:]) != 0 {
			t.Fatalf("current[%x] -> %d is not its record", oid, o)
		}
		n++
	}
	for oid, l := range c.noncur {
		for _, r := range l {
			entry(r.ofs, fmt.Sprintf("noncurrent[%x][%x]", oid, r.start))
			if b[r.ofs] != 'a' || binary.BigEndian.Uint64(b[r.ofs+5:]) != oid || binary.BigEndian.Uint64(b[r.ofs+13:]) != r.start {
				t.Fatalf("noncurrent[%x][%x] -> %d is not its record", oid, r.start, r.ofs)
			}
			n++
		}
	}
	if n != c.n {
		t.Fatalf("index holds %d records, len says %d", n, c.n)
	}
}

// FuzzOpen opens arbitrary bytes as a cache file: it must either scan or
// be replaced by a fresh cache (never panic), leave a well-formed file of
// the requested size, keep working through stores, loads and
// invalidations, and reopen without being thrown away.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"tiny.zec", "wrap.zec", "digits.zec"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(1000-HeaderSize), uint8(3))
		f.Add(b, uint16(600), uint8(9))
	}
	f.Add([]byte("ZEC3\x00\x00\x00\x00\x00\x00\x00\x00"), uint16(100), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size uint16, ops uint8) {
		p := filepath.Join(t.TempDir(), "f.zec")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		maxsize := int64(HeaderSize) + int64(size)
		c, err := Open(p, Options{Size: maxsize, noSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		walk(t, c)
		for i := 0; i < int(ops%16); i++ {
			oid := uint64(i % 5)
			tid := uint64(0x100 + i)
			data := make([]byte, (i*37)%200)
			switch i % 4 {
			case 0, 1:
				c.Store(oid, tid, 0, data)
			case 2:
				c.Load(oid)
				c.LoadBefore(oid, tid)
			case 3:
				c.Invalidate(oid, tid+1)
			}
		}
		c.Close()
		var logbuf bytes.Buffer
		lg := zerolog.New(&logbuf)
		c2, err := Open(p, Options{Size: maxsize, Logger: &lg, noSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		if strings.Contains(logbuf.String(), "bad cache file") {
			t.Fatalf("our own file was thrown away: %s", logbuf.String())
		}
		walk(t, c2)
	})
}
