package interop_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// appender commits small transactions to a Data.fs until stopped, as a
// server would while backups are taken.
type appender struct {
	s    *filestorage.FileStorage
	stop chan struct{}
	wg   sync.WaitGroup
	err  error
}

func startAppender(t *testing.T, path string) *appender {
	t.Helper()
	s, err := filestorage.Open(path, filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &appender{s: s, stop: make(chan struct{})}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-a.stop:
				return
			default:
			}
			x, err := s.Begin(filestorage.TxnMeta{Description: []byte(fmt.Sprint("txn ", i))})
			if err == nil {
				var oids []filestorage.Oid
				if oids, err = s.NewOids(1); err == nil {
					data := fmt.Sprintf("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x01\x00\x00\x00nq\x02J%s.", strings.Repeat("x", 4))
					if err = x.Store(oids[0], 0, []byte(data)); err == nil {
						if err = x.Vote(); err == nil {
							_, err = x.Finish()
						}
					}
				}
			}
			if err != nil {
				a.err = err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(a.close)
	return a
}

func (a *appender) close() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
	a.s.Close()
}

// backups runs four backups (a full one, then three incremental ones,
// the last two gzipped) with the given repozo command a second apart,
// while a writes to data, and returns the end offsets the .dat records.
func backups(t *testing.T, a *appender, dir, data, repo string, repozo func(args ...string) result) []int64 {
	t.Helper()
	for i := 0; i < 4; i++ {
		args := []string{"-B", "-r", repo, "-f", data}
		if i >= 2 {
			args = append(args, "-z")
		}
		mustOK(t, fmt.Sprint("backup ", i), repozo(args...))
		time.Sleep(1100 * time.Millisecond) // file names have one-second resolution
	}
	a.close()
	if a.err != nil {
		t.Fatalf("appending to %s: %v", data, a.err)
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
// Data.fs ours backed up while transactions were being committed, and
// ours recovers Python's; both end at a transaction boundary that
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
			a := startAppender(t, data)
			time.Sleep(50 * time.Millisecond)
			ends := backups(t, a, dir, data, repo, func(args ...string) result { return tc.backup(dir, args...) })
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
