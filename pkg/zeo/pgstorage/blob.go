package pgstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Blobs live in the database as RelStorage 3+ keeps them: one
// PostgreSQL large object per blob revision, referenced from
// blob_chunk (chunk_num 0). The blob directory is this server's cache
// of them, in ZODB's bushy layout: uploads arrive in its tmp directory,
// committed uploads are renamed into place, and a blob a client asks
// for that is not there yet is streamed out of the database into it.

// blobChunkSize is the size of one lo_put/lo_get round trip.
const blobChunkSize = 1 << 20

// BlobStorage is a Storage with blobs (storage.BlobStorage).
type BlobStorage struct {
	*Storage
	dir    string
	shared bool // shared-blob-dir true: the files are the blobs (sharedblob.go)
}

var (
	_ storage.BlobStorage = (*BlobStorage)(nil)
	_ storage.CommitFeed  = (*BlobStorage)(nil)
)

// WithBlobs serves blobs from s, with dir as the server's blob cache.
func WithBlobs(s *Storage, dir string) (*BlobStorage, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blob-dir: %w", err)
	}
	layout := filepath.Join(dir, ".layout")
	b, err := os.ReadFile(layout)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(layout, []byte("bushy\n"), 0o644); err != nil {
			return nil, fmt.Errorf("blob-dir: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("blob-dir: %w", err)
	case strings.TrimSpace(string(b)) != "bushy":
		return nil, fmt.Errorf("blob-dir %s: layout %q; only bushy is supported for a PostgreSQL blob cache", dir, strings.TrimSpace(string(b)))
	}
	return &BlobStorage{Storage: s, dir: dir}, nil
}

// Info adds IBlobStorage.
func (s *BlobStorage) Info() storage.Info {
	in := s.Storage.Info()
	in.Interfaces = append([]storage.Interface{{Module: "ZODB.interfaces", Name: "IBlobStorage"}}, in.Interfaces...)
	return in
}

// TemporaryDirectory implements storage.BlobStorage.
func (s *BlobStorage) TemporaryDirectory() string { return filepath.Join(s.dir, "tmp") }

// SharedBlobPath implements storage.BlobStorage (ZODB's bushy layout).
func (s *BlobStorage) SharedBlobPath(oid storage.OID) string {
	parts := []string{s.dir}
	for _, b := range oid.Bytes() {
		parts = append(parts, fmt.Sprintf("0x%02x", b))
	}
	return filepath.Join(parts...)
}

func (s *BlobStorage) path(oid storage.OID, serial tid.TID) string {
	return filepath.Join(s.SharedBlobPath(oid), serial.Repr()+".blob")
}

// LoadBlob returns the cached file of oid's blob at serial, fetching it
// from the database first when it is not cached.
func (s *BlobStorage) LoadBlob(oid storage.OID, serial tid.TID) (string, error) {
	if s.shared {
		return s.loadSharedBlob(oid, serial)
	}
	p := s.path(oid, serial)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	var lo uint32
	err := s.retry(func() error {
		return s.pool.QueryRow(s.ctx, `SELECT chunk FROM blob_chunk WHERE zoid = $1 AND tid = $2 AND chunk_num = 0`,
			int64(oid), int64(serial)).Scan(&lo)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", &storage.POSKeyError{OID: oid, Serial: &serial}
	}
	if err != nil {
		return "", convErr("loadBlob", err)
	}
	f, err := os.CreateTemp(s.TemporaryDirectory(), "pg-load-*.tmp")
	if err != nil {
		return "", &storage.StorageError{Msg: err.Error()}
	}
	tmp := f.Name()
	err = s.retry(func() error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := f.Truncate(0); err != nil {
			return err
		}
		return s.readLargeObject(s.ctx, lo, f)
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(p), 0o700)
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return "", convErr("loadBlob", err)
	}
	return p, nil
}

// readLargeObject copies a large object into w in chunks, in one
// snapshot so that a concurrent unlink cannot cut it short.
func (s *Storage) readLargeObject(ctx context.Context, lo uint32, w io.Writer) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for off := int64(0); ; off += blobChunkSize {
		var chunk []byte
		if err := tx.QueryRow(ctx, `SELECT lo_get($1, $2, $3)`, lo, off, blobChunkSize).Scan(&chunk); err != nil {
			return err
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		if len(chunk) < blobChunkSize {
			return nil
		}
	}
}

// Begin gives transactions that take blobs.
func (s *BlobStorage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	tx, err := s.Storage.Begin(meta)
	if err != nil {
		return nil, err
	}
	t := tx.(*txn)
	t.blobs = s
	return &blobTxn{txn: t}, nil
}

// blobTxn is a transaction of a BlobStorage.
type blobTxn struct{ *txn }

var (
	_ storage.BlobTransaction = (*blobTxn)(nil)
	_ storage.BlobRestorer    = (*blobTxn)(nil)
)

// StoreBlob stores the state and takes the uploaded file, which goes
// into the database at vote and into the cache after finish.
func (t *blobTxn) StoreBlob(oid storage.OID, serial tid.TID, data []byte, blobPath string) error {
	if err := t.Store(oid, serial, data); err != nil {
		os.Remove(blobPath)
		return err
	}
	t.takeBlob(oid, blobPath)
	return nil
}

// RestoreBlob implements storage.BlobRestorer.
func (t *blobTxn) RestoreBlob(oid storage.OID, serial tid.TID, data []byte, blobPath string, prevTxn tid.TID) error {
	if err := t.Restore(oid, serial, data, prevTxn); err != nil {
		os.Remove(blobPath)
		return err
	}
	t.takeBlob(oid, blobPath)
	return nil
}

// takeBlob makes the file at p the blob of oid in this transaction.
func (t *txn) takeBlob(oid storage.OID, p string) {
	if old, ok := t.blobFiles[oid]; ok {
		os.Remove(old)
	}
	if t.blobFiles == nil {
		t.blobFiles = map[storage.OID]string{}
	}
	t.blobFiles[oid] = p
}

// uploadBlobs writes the transaction's blobs into large objects and
// temp_blob_chunk, inside the vote's database transaction (a rollback
// drops the large objects with it).
func (t *txn) uploadBlobs(ctx context.Context, conn *pgx.Conn) error {
	if t.blobs.shared {
		return nil // placed at finish (placeSharedBlobs)
	}
	for oid, p := range t.blobFiles {
		if err := uploadBlob(ctx, conn, oid, p); err != nil {
			return fmt.Errorf("uploading the blob of %s: %w", oid, err)
		}
	}
	return nil
}

func uploadBlob(ctx context.Context, conn *pgx.Conn, oid storage.OID, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lo uint32
	if err := conn.QueryRow(ctx, `SELECT lo_create(0)`).Scan(&lo); err != nil {
		return err
	}
	buf := make([]byte, blobChunkSize)
	for off := int64(0); ; {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if _, err := conn.Exec(ctx, `SELECT lo_put($1, $2, $3)`, lo, off, buf[:n]); err != nil {
				return err
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	_, err = conn.Exec(ctx, `INSERT INTO temp_blob_chunk (zoid, chunk_num, chunk) VALUES ($1, 0, $2)`, int64(oid), lo)
	return err
}

// placeBlobs moves the committed uploads into the cache under the new
// tid; a failure only costs a later fetch from the database.
func (t *txn) placeBlobs(newTid tid.TID) {
	for oid, p := range t.blobFiles {
		dst := t.blobs.path(oid, newTid)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil || os.Rename(p, dst) != nil {
			os.Remove(p)
		}
	}
	t.blobFiles = nil
}

// dropBlobs removes the uploads of an aborted transaction.
func (t *txn) dropBlobs() {
	for _, p := range t.blobFiles {
		os.Remove(p)
	}
	t.blobFiles = nil
}
