package pgstorage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// RelStorage's replica file: DSNs one per line, blanks and '#' lines
// skipped; a file without any is an error naming it.
func TestReadReplicaConf(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "replicas.conf")
	os.WriteFile(p, []byte("# standbys\n\n  host=db2 dbname=zodb  \nhost=db3 dbname=zodb\n"), 0o644)
	got, err := ReadReplicaConf(p)
	if err != nil || len(got) != 2 || got[0] != "host=db2 dbname=zodb" || got[1] != "host=db3 dbname=zodb" {
		t.Fatalf("ReadReplicaConf = %q %v", got, err)
	}
	os.WriteFile(p, []byte("# none\n"), 0o644)
	if _, err := ReadReplicaConf(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("empty file: err = %v, want one naming %s", err, p)
	}
}

// Whatever the file holds, the DSNs read are trimmed, non-empty and no
// comment.
func FuzzReadReplicaConf(f *testing.F) {
	f.Add("# standbys\nhost=db2 dbname=zodb\n")
	f.Add("\n\n")
	f.Add("postgres://a@b:5432/zodb?sslmode=disable\r\n#x\n  \t\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(dir, "replicas.conf")
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		dsns, err := ReadReplicaConf(p)
		if err != nil {
			return
		}
		for _, d := range dsns {
			if d == "" || d != strings.TrimSpace(d) || strings.HasPrefix(d, "#") || strings.Contains(d, "\n") {
				t.Fatalf("bad DSN %q from %q", d, text)
			}
		}
	})
}
