package repozo

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadDat: any .dat content is read or refused with an error; the
// lines it accepts start at 0 and follow each other.
func FuzzReadDat(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "dat", "two.dat"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("a 0 1 x\nb 2 3 y\n"))
	f.Add([]byte("a -1 5 x\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "x.dat")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		lines, err := readDat(p)
		if err != nil {
			return
		}
		var end int64
		for _, l := range lines {
			if l.start != end || l.end < l.start {
				t.Fatalf("accepted line %d: %d..%d after %d", l.line, l.start, l.end, end)
			}
			end = l.end
		}
	})
}
