package interop_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A fresh Data.fs written by Python's ZODB (fs_write.py) reads the same
// through our fstail, fsoids and fsstats as through ZODB 6.3's: the
// same stdout, stderr and exit status.
func TestFsToolsMatchPython(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	pyWrite(t, path)
	same := func(what string, ours, theirs result) {
		t.Helper()
		if ours != theirs {
			t.Errorf("%s differs\nzdkit:  %+v\npython: %+v", what, ours, theirs)
		}
	}
	for _, n := range []string{"10", "1", "3"} {
		same("fstail -n "+n,
			run(t, dir, nil, time.Minute, bin(t, "fstail"), "-n", n, path),
			py(t, dir, time.Minute, "-m", "ZODB.scripts.fstail", "-n", n, path))
	}
	oids := []string{"0", "1", "2", "3", "4", "5", "0x6", "7", "8", "0x99"}
	same("fsoids",
		run(t, dir, nil, time.Minute, bin(t, "fsoids"), append([]string{path}, oids...)...),
		py(t, dir, time.Minute, append([]string{"-m", "ZODB.scripts.fsoids", path}, oids...)...))
	dump := py(t, dir, time.Minute, "-m", "ZODB.FileStorage.fsdump", path)
	mustOK(t, "fsdump.py", dump)
	dumpPath := filepath.Join(dir, "Data.dump")
	if err := os.WriteFile(dumpPath, []byte(dump.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	same("fsstats",
		run(t, dir, nil, time.Minute, bin(t, "fsstats"), dumpPath),
		py(t, dir, time.Minute, "-m", "ZODB.scripts.fsstats", dumpPath))
}
