package runzeo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A ro-replica-conf naming a missing file stops runzeo with exit 2 and an
// error naming the key (the file's format is tested in pkg/zeo/pgstorage).
func TestReplicaConfMissingFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "zeo.conf")
	os.WriteFile(conf, []byte("%import relstorage\n<zeo>\n address 127.0.0.1:0\n</zeo>\n<relstorage>\n ro-replica-conf "+
		filepath.Join(dir, "missing.conf")+"\n <postgresql>\n  dsn dbname=x\n </postgresql>\n</relstorage>\n"), 0o644)
	var out strings.Builder
	if code := Main([]string{"runzeo", "-C", conf}, &out, &out); code != 2 || !strings.Contains(out.String(), "ro-replica-conf") {
		t.Fatalf("exit %d, output %q: want 2 and an error naming ro-replica-conf", code, out.String())
	}
}
