package filestorage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Reopening an empty Data.fs whose .index was written at close: Python's
// _sane rejects an index with pos < 100, logs "Ignoring index for PATH"
// and rescans; so do we. The lock file is created 0666 &^ umask, as
// zc.lockfile's open(path, 'a+') does (interop items 3 and 18).
func TestEmptyIndexIgnoredAndLockMode(t *testing.T) {
	umask := currentUmask(t)
	path := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if m, want := fi.Mode().Perm(), os.FileMode(0o666)&^umask; m != want {
		t.Errorf("lock file mode %o, want %o", m, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".index"); err != nil {
		t.Fatalf("no index written at close: %v", err)
	}
	var logs []string
	s, err = Open(path, Options{NoSync: true, Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := strings.Join(logs, "\n"); got != "Ignoring index for "+path {
		t.Errorf("logs %q, want the Ignoring index warning", got)
	}
}

// currentUmask reads the umask without changing it (it is process-wide).
func currentUmask(t *testing.T) os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err == nil {
				return os.FileMode(n)
			}
		}
	}
	t.Skip("no Umask line in /proc/self/status")
	return 0
}
