package clientstorage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// blobDir is a ClientStorage blob cache directory in ZEO 6's "zeocache"
// layout (ZEO.ClientStorage.BlobCacheLayout): blob files named
// <oid_repr>-<tid_repr>.blob in a directory per oid modulo 997, a
// ".layout" file naming the layout, and "tmp" for uploads in progress.
type blobDir struct{ base string }

const zeocacheLayout = "zeocache"

func openBlobDir(base string) (*blobDir, error) {
	if err := os.MkdirAll(filepath.Join(base, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("zeoclient: blob-dir %s: %w", base, err)
	}
	layoutFile := filepath.Join(base, ".layout")
	b, err := os.ReadFile(layoutFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(layoutFile, []byte(zeocacheLayout), 0o644); err != nil {
			return nil, fmt.Errorf("zeoclient: blob-dir %s: %w", base, err)
		}
	case err != nil:
		return nil, fmt.Errorf("zeoclient: blob-dir %s: %w", base, err)
	case strings.TrimSpace(string(b)) != zeocacheLayout:
		return nil, fmt.Errorf("zeoclient: blob-dir %s: layout %q, a <zeoclient> needs %q (a shared blob directory is not supported)",
			base, strings.TrimSpace(string(b)), zeocacheLayout)
	}
	return &blobDir{base: base}, nil
}

func (d *blobDir) oidPath(oid storage.OID) string {
	return filepath.Join(d.base, strconv.FormatUint(uint64(oid)%997, 10))
}

func (d *blobDir) path(oid storage.OID, serial tid.TID) string {
	return filepath.Join(d.oidPath(oid), tid.HexRepr(uint64(oid))+"-"+serial.Repr()+".blob")
}

// BlobStorage is a Storage with a blob directory (IBlobStorage).
type BlobStorage struct {
	*Storage
	blobs *blobDir
}

// Info implements storage.Storage.
func (b *BlobStorage) Info() storage.Info { return b.info(true) }

// TemporaryDirectory implements storage.BlobStorage.
func (b *BlobStorage) TemporaryDirectory() string { return filepath.Join(b.blobs.base, "tmp") }

// SharedBlobPath implements storage.BlobStorage.
func (b *BlobStorage) SharedBlobPath(oid storage.OID) string { return b.blobs.oidPath(oid) }

// LoadBlob implements storage.BlobStorage: the file from the blob
// directory, fetched from the upstream (sendBlob) the first time.
func (b *BlobStorage) LoadBlob(oid storage.OID, serial tid.TID) (string, error) {
	p := b.blobs.path(oid, serial)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	c, err := b.cached().Client()
	if err != nil {
		return "", upstreamErr(err, oid, &serial)
	}
	data, err := c.LoadBlob(oid, serial)
	if err != nil {
		return "", upstreamErr(err, oid, &serial)
	}
	f, err := os.CreateTemp(b.TemporaryDirectory(), "zeoclient-load-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = b.install(tmp, p)
	}
	if werr != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("zeoclient: caching blob %s: %w", p, werr)
	}
	return p, nil
}

// install moves a finished blob file into place; blob files are
// read-only, as ZODB makes committed ones.
func (b *BlobStorage) install(tmp, p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o444); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Begin implements storage.Storage.
func (b *BlobStorage) Begin(meta storage.TxnMeta) (storage.Transaction, error) {
	t, err := b.begin(meta)
	if err != nil {
		return nil, err
	}
	return &blobTxn{txn: t, b: b}, nil
}

// blobTxn uploads blobs upstream and, once committed, keeps the uploaded
// files as the blob directory's copies of the new revisions.
type blobTxn struct {
	*txn
	b       *BlobStorage
	pending map[storage.OID]string
}

// StoreBlob implements storage.BlobTransaction.
func (t *blobTxn) StoreBlob(oid storage.OID, serial tid.TID, data []byte, blobPath string) error {
	blob, err := os.ReadFile(blobPath)
	if err != nil {
		os.Remove(blobPath)
		return err
	}
	if t.pending == nil {
		t.pending = map[storage.OID]string{}
	}
	if old, ok := t.pending[oid]; ok {
		os.Remove(old)
	}
	t.pending[oid] = blobPath
	return upstreamErr(t.ct.StoreBlob(oid, serial, data, blob), oid, nil)
}

func (t *blobTxn) Finish() (tid.TID, error) {
	ntid, err := t.txn.Finish()
	for oid, p := range t.pending {
		if err != nil || t.b.install(p, t.b.blobs.path(oid, ntid)) != nil {
			os.Remove(p)
		}
	}
	t.pending = nil
	return ntid, err
}

func (t *blobTxn) Abort() {
	for _, p := range t.pending {
		os.Remove(p)
	}
	t.pending = nil
	t.txn.Abort()
}

var _ storage.BlobTransaction = (*blobTxn)(nil)
