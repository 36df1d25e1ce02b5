package interop

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/pgstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// python finds an interpreter that can import ZEO, or skips.
func python(t *testing.T) (string, []string) {
	t.Helper()
	env := os.Environ()
	// ZDKIT_PYREF is what the other interop tests use (docs/interop.md);
	// ZDKIT_PYZEO_PATH, this package's older name, still works.
	p := os.Getenv("ZDKIT_PYZEO_PATH")
	if p == "" {
		p = os.Getenv("ZDKIT_PYREF")
	}
	if p != "" {
		env = append(env, "PYTHONPATH="+p)
	}
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("ZDKIT_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, py := range cands {
		cmd := exec.Command(py, "-c", "import ZEO.ClientStorage, ZODB, BTrees.Length, persistent.mapping")
		cmd.Env = env
		if cmd.Run() == nil {
			return py, env
		}
	}
	t.Skip("no Python with ZEO/ZODB (set ZDKIT_PYTHON and ZDKIT_PYREF)")
	return "", nil
}

func serve(t *testing.T, st storage.Storage, opts server.Options, network string) string {
	t.Helper()
	srv, err := server.New(map[string]storage.Storage{"1": st}, opts)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	var addr string
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "zeo.sock")
		l, err = net.Listen("unix", addr)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			addr = l.Addr().String()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return addr
}

func runClient(t *testing.T, addr string, scenarios ...string) {
	t.Helper()
	runClientEnv(t, addr, nil, scenarios...)
}

func runClientEnv(t *testing.T, addr string, extra []string, scenarios ...string) {
	t.Helper()
	py, env := python(t)
	env = append(env, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"testdata/client.py", addr}, scenarios...)...)
	cmd.Env = env
	cmd.Dir = "."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	for _, s := range scenarios {
		if !strings.Contains(string(out), "ok "+s+"\n") {
			t.Errorf("scenario %s did not report ok:\n%s", s, out)
		}
	}
}

var all = []string{"root_create", "invalidation", "resolve", "conflict", "readcurrent", "poskey", "undo", "pack", "readonly", "cache"}

func openFS(t *testing.T) *fsstorage.Storage {
	st, err := fsstorage.Open(filepath.Join(t.TempDir(), "Data.fs"), filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPythonClientPickleTCP(t *testing.T) {
	py, env := python(t)
	path := filepath.Join(t.TempDir(), "Data.fs")
	st, err := fsstorage.Open(path, filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	runClient(t, l.Addr().String(), append(all, "copy")...)
	srv.Close()
	<-done
	// Python's own checker must accept the Data.fs we wrote.
	cmd := exec.Command(py, "-m", "ZODB.scripts.fstest", "-v", path)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no errors detected") {
		t.Errorf("fstest: %v\n%s", err, out)
	}
}

func TestPythonClientMsgpackUnix(t *testing.T) {
	python(t)
	runClient(t, serve(t, openFS(t), server.Options{Msgpack: true}, "unix"), all...)
}

func TestPythonClientMappingStorage(t *testing.T) {
	python(t)
	// No undo on a mappingstorage.
	runClient(t, serve(t, mappingstorage.New("", false), server.Options{}, "tcp"),
		"root_create", "invalidation", "resolve", "conflict", "readcurrent", "poskey", "readonly")
}

func TestPythonClientBlobs(t *testing.T) {
	python(t)
	dir := t.TempDir()
	blobs := filepath.Join(dir, "blobs")
	st, err := fsstorage.OpenWithBlobs(filepath.Join(dir, "Data.fs"), blobs, filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, st, server.Options{}, "tcp")
	runClientEnv(t, addr, []string{"ZDKIT_SHARED_BLOB_DIR=" + blobs}, "root_create", "blobs", "sharedblobs")
}

// A transaction timeout aborts and releases the lock: the real client's
// stalled commit fails and the next committer goes through.
func TestPythonClientTransactionTimeout(t *testing.T) {
	python(t)
	addr := serve(t, openFS(t), server.Options{TransactionTimeout: time.Second}, "tcp")
	runClient(t, addr, "timeout")
	// On PostgreSQL the timeout's ROLLBACK frees the object locks.
	addr = serve(t, openPG(t, true), server.Options{TransactionTimeout: time.Second}, "tcp")
	runClient(t, addr, "timeout")
}

// copyTransactionsFrom into a FileStorage served by us (restorea).
func TestPythonClientCopyTransactions(t *testing.T) {
	python(t)
	runClient(t, serve(t, openFS(t), server.Options{}, "tcp"), "copy")
}

// openPG opens a fresh PostgreSQL database in RelStorage's schema.
func openPG(t *testing.T, hp bool) *pgstorage.Storage {
	t.Helper()
	st, err := pgstorage.Open(context.Background(), pgstorage.Options{DSN: pgsandbox.NewDatabase(t),
		KeepHistory: hp, CreateSchema: true, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Unchanged Python ZEO clients against PostgreSQL: the FileStorage
// scenarios that need no undo, pack or restore.
func TestPythonClientPostgreSQL(t *testing.T) {
	python(t)
	pgScenarios := []string{"root_create", "invalidation", "resolve", "conflict", "readcurrent", "poskey", "readonly", "cache", "pack"}
	for _, hp := range []bool{true, false} {
		t.Run(map[bool]string{true: "history-preserving", false: "history-free"}[hp], func(t *testing.T) {
			scenarios := pgScenarios
			if hp {
				scenarios = append(scenarios, "undo")
			}
			runClient(t, serve(t, openPG(t, hp), server.Options{}, "tcp"), scenarios...)
		})
	}
}

// Blobs through unchanged Python clients, kept in PostgreSQL large
// objects with the server's blob directory as a cache: a second server
// with an empty cache serves them out of the database.
func TestPythonClientPostgreSQLBlobs(t *testing.T) {
	python(t)
	for _, hp := range []bool{true, false} {
		t.Run(map[bool]string{true: "history-preserving", false: "history-free"}[hp], func(t *testing.T) {
			dsn := pgsandbox.NewDatabase(t)
			openBlobs := func() *pgstorage.BlobStorage {
				st, err := pgstorage.Open(context.Background(), pgstorage.Options{DSN: dsn,
					KeepHistory: hp, CreateSchema: true, PollInterval: 50 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				bs, err := pgstorage.WithBlobs(st, filepath.Join(t.TempDir(), "blobs"))
				if err != nil {
					t.Fatal(err)
				}
				return bs
			}
			runClient(t, serve(t, openBlobs(), server.Options{}, "tcp"), "root_create", "blobs")
			runClient(t, serve(t, openBlobs(), server.Options{}, "tcp"), "blobread")
			// Every blob revision is a large object in the database.
			c, err := pgx.Connect(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			var n int
			if err := c.QueryRow(context.Background(), `SELECT count(*) FROM blob_chunk b
				JOIN pg_largeobject_metadata m ON m.oid = b.chunk`).Scan(&n); err != nil || n != map[bool]int{true: 2, false: 1}[hp] {
				t.Fatalf("blob_chunk rows with a large object: %d %v", n, err)
			}
			// History-free replaced the first revision: its large object
			// went with its row (the blob_chunk_delete trigger).
			var los int
			if err := c.QueryRow(context.Background(), `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&los); err != nil || los != n {
				t.Fatalf("%d large objects for %d blob rows (%v)", los, n, err)
			}
		})
	}
}

// shared-blob-dir true: two servers on one database share one blob
// directory and keep no blob in the database. Unchanged Python clients
// with shared_blob_dir write into it through one server and read it
// through the other; a client with its own blob cache downloads through
// the second server.
func TestPythonClientPostgreSQLSharedBlobDir(t *testing.T) {
	python(t)
	dsn := pgsandbox.NewDatabase(t)
	blobs := filepath.Join(t.TempDir(), "blobs")
	openShared := func() *pgstorage.BlobStorage {
		st, err := pgstorage.Open(context.Background(), pgstorage.Options{DSN: dsn,
			KeepHistory: true, CreateSchema: true, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		bs, err := pgstorage.WithSharedBlobs(st, blobs)
		if err != nil {
			t.Fatal(err)
		}
		return bs
	}
	a := serve(t, openShared(), server.Options{}, "tcp")
	b := serve(t, openShared(), server.Options{}, "tcp")
	env := []string{"ZDKIT_SHARED_BLOB_DIR=" + blobs}
	runClientEnv(t, a, env, "root_create", "sharedblobs")
	runClientEnv(t, b, env, "sharedblobread")
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var chunks, los int
	if err := c.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM blob_chunk),
		(SELECT count(*) FROM pg_largeobject_metadata)`).Scan(&chunks, &los); err != nil || chunks != 0 || los != 0 {
		t.Fatalf("%d blob_chunk rows and %d large objects with shared-blob-dir (%v)", chunks, los, err)
	}
	var files int
	filepath.WalkDir(blobs, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".blob") {
			files++
		}
		return nil
	})
	if files != 2 {
		t.Fatalf("%d blob files in the shared directory, want the 2 revisions", files)
	}
}

// copyTransactionsFrom (zodbconvert's path through ZEO) into PostgreSQL:
// the source's tids and data arrive unchanged.
func TestPythonClientPostgreSQLCopy(t *testing.T) {
	python(t)
	for _, hp := range []bool{true, false} {
		t.Run(map[bool]string{true: "history-preserving", false: "history-free"}[hp], func(t *testing.T) {
			runClient(t, serve(t, openPG(t, hp), server.Options{}, "tcp"), "copy")
		})
	}
}

// Two servers on one PostgreSQL database, unchanged Python clients on
// both: commits are seen across them, and conflict resolution
// (BTrees.Length) across them counts exactly.
func TestPythonClientPostgreSQLFrontEnds(t *testing.T) {
	python(t)
	dsn := pgsandbox.NewDatabase(t)
	openOn := func() *pgstorage.Storage {
		st, err := pgstorage.Open(context.Background(), pgstorage.Options{DSN: dsn,
			KeepHistory: true, CreateSchema: true, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := serve(t, openOn(), server.Options{}, "tcp")
	b := serve(t, openOn(), server.Options{}, "tcp")
	runClient(t, a, "root_create")
	runClientEnv(t, a, []string{"ZDKIT_ADDR2=" + b}, "frontends")
}
