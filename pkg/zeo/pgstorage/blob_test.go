package pgstorage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// An aborted blob upload leaves neither its file nor a large object; a
// committed one is served out of the database through an empty cache.
func TestBlobAbortAndFetch(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	bs, err := WithBlobs(open(t, dsn, true), filepath.Join(t.TempDir(), "cache1"))
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("0123456789abcdef"), blobChunkSize/8+3) // more than two chunks
	upload := func() string {
		p := filepath.Join(bs.TemporaryDirectory(), "up.tmp")
		if err := os.WriteFile(p, blob, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	countLOs := func() int {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, _ := bs.Begin(storage.TxnMeta{})
	p := upload()
	if err := tx.(storage.BlobTransaction).StoreBlob(7, 0, []byte("state"), p); err != nil {
		t.Fatal(err)
	}
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	tx.Abort()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("upload still there after abort: %v", err)
	}
	if n := countLOs(); n != 0 {
		t.Fatalf("%d large objects after an aborted upload", n)
	}

	tx, _ = bs.Begin(storage.TxnMeta{})
	tx.(storage.BlobTransaction).StoreBlob(7, 0, []byte("state"), upload())
	if err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	t1, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if n := countLOs(); n != 1 {
		t.Fatalf("%d large objects after one blob commit", n)
	}
	other, err := WithBlobs(open(t, dsn, true), filepath.Join(t.TempDir(), "cache2"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.LoadBlob(7, t1)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(got); err != nil || !bytes.Equal(b, blob) {
		t.Fatalf("blob fetched through an empty cache: %d bytes (want %d), %v", len(b), len(blob), err)
	}
	if _, err := other.LoadBlob(7, t1+1); err == nil {
		t.Fatal("LoadBlob of a revision without a blob succeeded")
	}
}
