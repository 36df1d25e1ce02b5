package pgstorage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Two front ends share one blob directory (shared-blob-dir true): a blob
// committed through one is read through the other straight from the
// directory, the database holds no large object, concurrent votes with
// blobs do not wait for each other, an abort leaves no file, undo brings
// the earlier file back under the new tid and pack removes the files of
// the revisions it removes.
func TestSharedBlobDirTwoFrontEnds(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	dir := filepath.Join(t.TempDir(), "blobs")
	a, err := WithSharedBlobs(open(t, dsn, true), dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := WithSharedBlobs(open(t, dsn, true), dir)
	if err != nil {
		t.Fatal(err)
	}
	upload := func(bs *BlobStorage, content string) string {
		f, err := os.CreateTemp(bs.TemporaryDirectory(), "up-*.tmp")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Close()
		return f.Name()
	}
	begin := func(bs *BlobStorage, oid storage.OID, serial tid.TID, content string) storage.Transaction {
		tx, err := bs.Begin(storage.TxnMeta{User: []byte("u"), Description: []byte("d")})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.(storage.BlobTransaction).StoreBlob(oid, serial, []byte("state "+content), upload(bs, content)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		return tx
	}
	finish := func(tx storage.Transaction) tid.TID {
		n, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	read := func(bs *BlobStorage, oid storage.OID, serial tid.TID) string {
		p, err := bs.LoadBlob(oid, serial)
		if err != nil {
			t.Fatalf("LoadBlob(%s, %s): %v", oid, serial, err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(got)
	}

	// Both votes are in before either finishes: the vote takes no
	// global lock (RelStorage's shared helper would hold lock -1 here).
	tx1 := begin(a, 7, 0, "first")
	tx2 := begin(b, 8, 0, "other")
	t1 := finish(tx1)
	t8 := finish(tx2)
	if got := read(b, 7, t1); got != "first" {
		t.Fatalf("blob through the other front end = %q", got)
	}
	if got := read(a, 8, t8); got != "other" {
		t.Fatalf("blob through the other front end = %q", got)
	}
	if p, _ := a.LoadBlob(7, t1); p != filepath.Join(dir, "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x07", t1.Repr()+".blob") {
		t.Fatalf("blob file %s is not in the bushy layout", p)
	}

	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var los, chunks int
	if err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_largeobject_metadata), (SELECT count(*) FROM blob_chunk)`).Scan(&los, &chunks); err != nil {
		t.Fatal(err)
	}
	if los != 0 || chunks != 0 {
		t.Fatalf("%d large objects and %d blob_chunk rows with shared-blob-dir", los, chunks)
	}

	// An aborted transaction leaves no file behind.
	tx := begin(a, 7, t1, "aborted")
	tx.Abort()
	if n := countBlobFiles(t, dir); n != 2 {
		t.Fatalf("%d blob files after an abort, want 2", n)
	}

	t2 := finish(begin(b, 7, t1, "second"))
	if got := read(a, 7, t2); got != "second" {
		t.Fatalf("second revision = %q", got)
	}
	if got := read(a, 7, t1); got != "first" {
		t.Fatalf("first revision after the second = %q", got)
	}

	// Undo the second revision through a: the first file comes back
	// under the undo's tid.
	log, err := a.UndoLog(0, 10, nil)
	if err != nil || len(log) == 0 || log[0].TID != t2 {
		t.Fatalf("UndoLog = %+v, %v", log, err)
	}
	utx, err := a.Begin(storage.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := utx.Undo(log[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := utx.Vote(); err != nil {
		t.Fatal(err)
	}
	t3 := finish(utx)
	if got := read(b, 7, t3); got != "first" {
		t.Fatalf("blob after undo = %q, want the first revision's", got)
	}

	// Pack to t3: the revisions of oid 7 before t3 go, with their files.
	if err := b.Pack(t3, false); err != nil {
		t.Fatal(err)
	}
	for _, old := range []tid.TID{t1, t2} {
		var pk *storage.POSKeyError
		if _, err := a.LoadBlob(7, old); !errors.As(err, &pk) {
			t.Fatalf("LoadBlob of a packed revision %s: %v, want POSKeyError", old, err)
		}
	}
	if got := read(a, 7, t3); got != "first" {
		t.Fatalf("current blob after pack = %q", got)
	}
	if got := read(a, 8, t8); got != "other" {
		t.Fatalf("untouched blob after pack = %q", got)
	}
	if n := countBlobFiles(t, dir); n != 2 {
		t.Fatalf("%d blob files after pack, want 2", n)
	}
}

func countBlobFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".blob" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// History-free with shared-blob-dir: a new revision replaces the row, and
// the next pack removes the file of the replaced one.
func TestSharedBlobDirHistoryFree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	bs, err := WithSharedBlobs(open(t, pgsandbox.NewDatabase(t), false), dir)
	if err != nil {
		t.Fatal(err)
	}
	store := func(serial tid.TID, content string) tid.TID {
		up := filepath.Join(bs.TemporaryDirectory(), "up.tmp")
		if err := os.WriteFile(up, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tx, err := bs.Begin(storage.TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.(storage.BlobTransaction).StoreBlob(3, serial, []byte("s"), up); err != nil {
			t.Fatal(err)
		}
		if err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		n, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	t1 := store(0, "one")
	t2 := store(t1, "two")
	if n := countBlobFiles(t, dir); n != 2 {
		t.Fatalf("%d blob files before pack, want 2", n)
	}
	if err := bs.Pack(t2, false); err != nil {
		t.Fatal(err)
	}
	var pk *storage.POSKeyError
	if _, err := bs.LoadBlob(3, t1); !errors.As(err, &pk) {
		t.Fatalf("replaced revision after pack: %v, want POSKeyError", err)
	}
	p, err := bs.LoadBlob(3, t2)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "two" {
		t.Fatalf("current blob = %q", got)
	}
}
