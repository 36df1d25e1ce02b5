package interop_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// committer is a real Python ZEO client committing small transactions
// through zdkit's runzeo to dir/Data.fs, for backups to be taken of the
// file the server is writing.
type committer struct {
	srv  *server
	done chan struct{}
	res  result
	err  error
}

// commitScript commits one PersistentMapping a transaction until the
// file named by its third argument appears, then prints the count.
const commitScript = `import os, sys, time
import transaction, ZODB
from ZEO.ClientStorage import ClientStorage
from persistent.mapping import PersistentMapping
host, port = sys.argv[1].rsplit(':', 1)
db = ZODB.DB(ClientStorage((host, int(port)), wait_timeout=30))
conn = db.open()
root = conn.root()
i = 0
while not os.path.exists(sys.argv[2]):
    root['k%d' % (i % 40)] = PersistentMapping({'i': i, 'pad': 'x' * 300})
    transaction.commit()
    i += 1
    time.sleep(0.005)
print(i)
conn.close()
db.close()
`

func startCommitting(t *testing.T, dir string) *committer {
	t.Helper()
	exe, pp := python(t)
	c := &committer{srv: runzeo(t, dir, nil), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.res, c.err = runE(dir, []string{"PYTHONPATH=" + pp}, 2*time.Minute, exe, "-c", commitScript, c.srv.addr, filepath.Join(dir, "stop"))
	}()
	t.Cleanup(func() { c.stop(t) })
	// Wait for the first commits to reach the file.
	data := filepath.Join(dir, "Data.fs")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err := os.Stat(data); err == nil && st.Size() > 4096 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no commits reached %s in 30 s\n%s", data, c.srv.output())
		}
	}
}

// stop ends the client and the server; it returns the number of
// transactions the client committed.
func (c *committer) stop(t *testing.T) int {
	t.Helper()
	os.WriteFile(filepath.Join(c.srv.cmd.Dir, "stop"), nil, 0o644)
	<-c.done
	c.srv.stop(t)
	if c.err != nil {
		t.Fatalf("committing client: %v", c.err)
	}
	if c.res.code != 0 {
		t.Fatalf("committing client: exit %d\n%s", c.res.code, c.res.stderr)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(c.res.stdout))
	return n
}

// backups runs four backups (a full one, then three incremental ones,
// the last two gzipped) with the given repozo command a second apart,
// while c commits to data, and returns the end offsets the .dat records.
func backups(t *testing.T, c *committer, dir, data, repo string, repozo func(args ...string) result) []int64 {
	t.Helper()
	for i := 0; i < 4; i++ {
		args := []string{"-B", "-r", repo, "-f", data}
		if i >= 2 {
			args = append(args, "-z")
		}
		mustOK(t, fmt.Sprint("backup ", i), repozo(args...))
		time.Sleep(1100 * time.Millisecond) // file names have one-second resolution
	}
	if n := c.stop(t); n < 10 {
		t.Fatalf("only %d transactions committed during the backups", n)
	}
	dats, _ := filepath.Glob(filepath.Join(repo, "*.dat"))
	if len(dats) != 1 {
		t.Fatalf("repository has .dat files %v, want one", dats)
	}
	b, err := os.ReadFile(dats[0])
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		end, _ := strconv.ParseInt(f[2], 10, 64)
		ends = append(ends, end)
	}
	if len(ends) != 4 || ends[0] >= ends[3] {
		t.Fatalf(".dat %q: want a full and three growing increments", b)
	}
	return ends
}

// TestRepozoInterop: Python's repozo recovers, byte for byte, the
// Data.fs ours backed up while a Python ZEO client committed through
// zdkit's runzeo, and ours recovers Python's; both end at a transaction boundary that
// Python's fstest accepts.
func TestRepozoInterop(t *testing.T) {
	ours := bin(t, "repozo")
	for _, tc := range []struct {
		name             string
		backup, recovery func(dir string, args ...string) result
	}{
		{"zdkit backs up, Python recovers",
			func(dir string, args ...string) result { return run(t, dir, nil, time.Minute, ours, args...) },
			func(dir string, args ...string) result {
				return py(t, dir, time.Minute, append([]string{"-m", "ZODB.scripts.repozo"}, args...)...)
			}},
		{"Python backs up, zdkit recovers",
			func(dir string, args ...string) result {
				return py(t, dir, time.Minute, append([]string{"-m", "ZODB.scripts.repozo"}, args...)...)
			},
			func(dir string, args ...string) result { return run(t, dir, nil, time.Minute, ours, args...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data, repo := filepath.Join(dir, "Data.fs"), filepath.Join(dir, "repo")
			os.Mkdir(repo, 0o755)
			c := startCommitting(t, dir)
			ends := backups(t, c, dir, data, repo, func(args ...string) result { return tc.backup(dir, args...) })
			whole, err := os.ReadFile(data)
			if err != nil {
				t.Fatal(err)
			}
			mustOK(t, "verify", tc.recovery(dir, "-V", "-r", repo))
			out := filepath.Join(dir, "out.fs")
			mustOK(t, "recover", tc.recovery(dir, "-R", "-r", repo, "-o", out))
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(whole)) <= ends[3] {
				t.Fatalf("Data.fs did not grow after the last backup (%d bytes): the backups did not see a live file", len(whole))
			}
			if int64(len(got)) != ends[3] || !bytes.Equal(got, whole[:ends[3]]) {
				t.Fatalf("recovered %d bytes, want the first %d bytes of Data.fs (of %d)", len(got), ends[3], len(whole))
			}
			r := py(t, dir, time.Minute, "-m", "ZODB.scripts.fstest", out)
			mustOK(t, "fstest of the recovered file", r)
			// The .index the backup saved (copied to out.fs.index) is one
			// Python's FileStorage accepts for the recovered file.
			r = py(t, dir, time.Minute, "-c", `import sys
from ZODB.FileStorage import FileStorage
fs = FileStorage(sys.argv[1], read_only=True)
if fs._restore_index() is None:
    sys.exit("index rejected")
fs.close()`, out)
			mustOK(t, "Python's FileStorage accepts the recovered index", r)
		})
	}
}

// TestRepozoSameRepositoryAsPython: a full backup of the same Data.fs by
// ours and by Python's repozo gives the same bytes in the backup, the
// .index and the .dat (apart from the path at the start of its line).
func TestRepozoSameRepositoryAsPython(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "Data.fs")
	pyWrite(t, data)
	mine, theirs := filepath.Join(dir, "mine"), filepath.Join(dir, "theirs")
	os.Mkdir(mine, 0o755)
	os.Mkdir(theirs, 0o755)
	mustOK(t, "zdkit repozo -B", run(t, dir, nil, time.Minute, bin(t, "repozo"), "-B", "-r", "mine", "-f", "Data.fs"))
	mustOK(t, "repozo.py -B", py(t, dir, time.Minute, "-m", "ZODB.scripts.repozo", "-B", "-r", "theirs", "-f", "Data.fs"))
	for _, ext := range []string{".fs", ".index", ".dat"} {
		a, _ := filepath.Glob(filepath.Join(mine, "*"+ext))
		b, _ := filepath.Glob(filepath.Join(theirs, "*"+ext))
		if len(a) != 1 || len(b) != 1 {
			t.Fatalf("%s files: ours %v, Python's %v", ext, a, b)
		}
		x, _ := os.ReadFile(a[0])
		y, _ := os.ReadFile(b[0])
		if ext == ".dat" {
			x, y = bytes.TrimPrefix(x, []byte("mine/")), bytes.TrimPrefix(y, []byte("theirs/"))
			// The file names hold the second each backup was taken.
			x, y = x[len("YYYY-MM-DD-hh-mm-ss.fs"):], y[len("YYYY-MM-DD-hh-mm-ss.fs"):]
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs from Python's:\nours:   %q\nPython: %q", ext, x[:min(len(x), 200)], y[:min(len(y), 200)])
		}
	}
}
