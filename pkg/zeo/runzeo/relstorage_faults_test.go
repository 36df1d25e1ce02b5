package runzeo

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// relStorageConf writes a zeo.conf serving dsn and returns its path.
func relStorageConf(t *testing.T, dsn, extra string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "zeo.conf")
	text := fmt.Sprintf("%%import relstorage\n<zeo>\n address %s\n</zeo>\n<relstorage 1>\n%s <postgresql>\n  dsn %s\n </postgresql>\n</relstorage>\n",
		filepath.Join(dir, "zeo.sock"), extra, dsn)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// A DSN that cannot be parsed is a configuration error (status 2, the
// file and line named, the password not shown); a database that is down,
// one that does not exist and one without a schema when create-schema is
// false cannot be opened (status 1, so that zdrun starts runzeo again),
// each with an error naming the cause.
func TestRelStorageStartFaults(t *testing.T) {
	srv := pgsandbox.Shared(t)
	down := func() int { // a loopback port nothing listens on
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	empty := pgsandbox.NewDatabase(t)
	cases := []struct {
		name, dsn, extra string
		code             int
		want             []string
		hidden           string
	}{
		{"bad dsn", "postgres://zodb:s3cret@[::1/zodb", "", 2,
			[]string{"line 7, in file://", "<postgresql> dsn: cannot parse", "postgres://zodb:xxxxx@"}, "s3cret"},
		{"database down", fmt.Sprintf("host=127.0.0.1 port=%d dbname=zodb user=postgres connect_timeout=5", down), "", 1,
			[]string{"Error: opening storage '1': connecting to PostgreSQL", fmt.Sprintf("127.0.0.1:%d", down), "connection refused"}, ""},
		{"no such database", srv.DSN("nosuchdb"), "", 1,
			[]string{"Error: opening storage '1': connecting to PostgreSQL", `database "nosuchdb" does not exist`}, ""},
		{"no schema", empty, " create-schema false\n", 1,
			[]string{"Error: opening storage '1'", "table object_state is missing", "set create-schema true"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out strings.Builder
			code := Main([]string{"runzeo", "-C", relStorageConf(t, c.dsn, c.extra)}, &out, &out)
			if code != c.code {
				t.Fatalf("exit status %d, want %d; output:\n%s", code, c.code, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if c.hidden != "" && strings.Contains(out.String(), c.hidden) {
				t.Errorf("output shows the password:\n%s", out.String())
			}
		})
	}
	// The database without a schema was left untouched.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("create-schema false created %d tables", tables)
	}
}

// The database's disk fills up (its tablespace on a small tmpfs): the
// commit that does not fit gets a StorageError naming the cause, nothing
// of it is committed and no lock stays held; once space is freed the
// same runzeo and client commit again.
func TestRelStorageFullDisk(t *testing.T) {
	srv := pgsandbox.Shared(t)
	if os.Geteuid() != 0 {
		pgsandbox.Unavailable(t, "needs root to mount a small tmpfs for the database's tablespace")
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		pgsandbox.Unavailable(t, "no postgres user: %v", err)
	}
	mnt, err := os.MkdirTemp("", "pgfull")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m,mode=0755", "tmpfs", mnt).CombinedOutput(); err != nil {
		os.Remove(mnt)
		pgsandbox.Unavailable(t, "cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
		os.Remove(mnt)
	})
	space := filepath.Join(mnt, "ts")
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	if err := os.Mkdir(space, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(space, uid, gid); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("full%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE TABLESPACE %s LOCATION '%s'`, name, space)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TABLESPACE %s`, name, name)); err != nil {
		admin.Exec(ctx, `DROP TABLESPACE `+name)
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the umount (cleanups run last first)
		ctx := context.Background()
		c, err := pgx.Connect(ctx, srv.DSN("postgres"))
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(ctx)
		for _, q := range []string{`DROP DATABASE ` + name + ` WITH (FORCE)`, `DROP TABLESPACE ` + name} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	dsn := srv.DSN(name)
	fe := startFrontEnd(t, dsn, "")
	c, err := client.Dial(ctx, []string{fe.sock}, client.Options{Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	root := commitOne(t, c, 0, 0, "root")

	// Leave about 3 MB free beside the ballast.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, free-3<<20), 0o600); err != nil {
		t.Fatal(err)
	}

	// Commit 512 KB objects (random, so not compressed) until one fails.
	serials := map[storage.OID]tid.TID{}
	var last tid.TID
	var failure error
	var failedOID storage.OID
	for i := 1; i <= 30 && failure == nil; i++ {
		oid := storage.OID(i)
		state := make([]byte, 512<<10)
		rand.Read(state)
		tx, err := c.Begin("u", "fill", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Store(oid, 0, state); err != nil {
			t.Fatal(err)
		}
		conflicts, _, err := tx.Vote()
		if err == nil && len(conflicts) > 0 {
			t.Fatalf("conflicts filling the disk: %+v", conflicts)
		}
		if err != nil {
			tx.Abort()
			failure, failedOID = err, oid
			break
		}
		n, err := tx.Finish()
		if err != nil {
			failure, failedOID = err, oid
			break
		}
		serials[oid], last = n, n
	}
	if failure == nil {
		t.Fatal("30 commits of 512 KB fitted into about 3 MB")
	}
	if !client.IsClass(failure, "StorageError") || !strings.Contains(failure.Error(), "No space left on device") {
		t.Fatalf("commit on a full disk: %v, want a StorageError naming the full disk", failure)
	}
	t.Logf("commit %d on a full disk: %v", failedOID, failure)
	if len(serials) == 0 {
		t.Fatal("the first commit already failed: the ballast left too little room")
	}

	// Nothing of the failed commit, no lock left, the last tid unchanged.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, locks int
	var maxTid int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM object_state WHERE zoid = $1),
		(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),
		(SELECT MAX(tid) FROM "transaction")`, int64(failedOID)).Scan(&rows, &locks, &maxTid); err != nil {
		t.Fatal(err)
	}
	if rows != 0 || locks != 0 || tid.TID(maxTid) != last {
		t.Fatalf("after the failed commit: %d rows of its object, %d advisory locks, last tid %s (want 0, 0, %s)",
			rows, locks, tid.TID(maxTid), last)
	}

	// Space freed: the same client commits again through the same runzeo.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	n := commitOne(t, c, failedOID, 0, "after")
	if n <= last {
		t.Fatalf("commit after freeing space got tid %s, not after %s", n, last)
	}
	other, err := client.Dial(ctx, []string{fe.sock}, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	data, serial, err := other.Load(failedOID)
	if err != nil || string(data) != "after" || serial != n {
		t.Fatalf("Load after freeing space = %q %s %v, want \"after\" %s", data, serial, err, n)
	}
	if _, serial, err := other.Load(0); err != nil || serial != root {
		t.Fatalf("root = %s %v, want %s", serial, err, root)
	}
}

// shared-blob-dir true needs a blob-dir (status 2, the key named); with
// one, runzeo opens the database and lays the directory out as ZODB's
// bushy layout for the front ends and clients that share it.
func TestRelStorageSharedBlobDirConfig(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	var out strings.Builder
	code := Main([]string{"runzeo", "-C", relStorageConf(t, dsn, " shared-blob-dir true\n")}, &out, &out)
	if code != 2 || !strings.Contains(out.String(), "shared-blob-dir true needs a blob-dir") {
		t.Fatalf("without blob-dir: exit %d, output:\n%s", code, out.String())
	}
	blobs := filepath.Join(t.TempDir(), "shared")
	out.Reset()
	code = Main([]string{"runzeo", "-C", relStorageConf(t, dsn, " shared-blob-dir true\n blob-dir "+blobs+"\n"), "--test"}, &out, &out)
	if code != 0 || !strings.Contains(out.String(), "testing exit immediately") {
		t.Fatalf("with blob-dir: exit %d, output:\n%s", code, out.String())
	}
	if layout, err := os.ReadFile(filepath.Join(blobs, ".layout")); err != nil || string(layout) != "bushy\n" {
		t.Fatalf(".layout = %q, %v", layout, err)
	}
}
