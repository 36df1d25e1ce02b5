package runzeo

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
	got, err := readReplicaConf(p)
	if err != nil || len(got) != 2 || got[0] != "host=db2 dbname=zodb" || got[1] != "host=db3 dbname=zodb" {
		t.Fatalf("readReplicaConf = %q %v", got, err)
	}
	os.WriteFile(p, []byte("# none\n"), 0o644)
	if _, err := readReplicaConf(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("empty file: err = %v, want one naming %s", err, p)
	}
	// In a configuration: a missing file stops runzeo with exit 2 and an
	// error naming the key.
	conf := filepath.Join(dir, "zeo.conf")
	os.WriteFile(conf, []byte("%import relstorage\n<zeo>\n address 127.0.0.1:0\n</zeo>\n<relstorage>\n ro-replica-conf "+
		filepath.Join(dir, "missing.conf")+"\n <postgresql>\n  dsn dbname=x\n </postgresql>\n</relstorage>\n"), 0o644)
	var out strings.Builder
	if code := Main([]string{"runzeo", "-C", conf}, &out, &out); code != 2 || !strings.Contains(out.String(), "ro-replica-conf") {
		t.Fatalf("exit %d, output %q: want 2 and an error naming ro-replica-conf", code, out.String())
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
		dsns, err := readReplicaConf(p)
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
