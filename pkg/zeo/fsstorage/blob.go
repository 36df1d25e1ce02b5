package fsstorage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Blob directory in ZODB's layout (filestorage-format.md, zeo-protocol.md
// §9.1 item 4): a ".layout" file naming "bushy" (one 0xNN directory per
// oid byte) or "lawn" (one 0x<oid_repr> directory), blob files named
// <tid_repr>.blob, and a "tmp" directory for uploads.
type blobDir struct {
	base string
	lawn bool
}

func openBlobDir(base string) (*blobDir, error) {
	if err := os.MkdirAll(filepath.Join(base, "tmp"), 0o700); err != nil {
		return nil, err
	}
	layoutFile := filepath.Join(base, ".layout")
	b, err := os.ReadFile(layoutFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.WriteFile(layoutFile, []byte("bushy\n"), 0o644); err != nil {
			return nil, err
		}
		return &blobDir{base: base}, nil
	case err != nil:
		return nil, err
	}
	switch strings.TrimSpace(string(b)) {
	case "bushy":
		return &blobDir{base: base}, nil
	case "lawn":
		return &blobDir{base: base, lawn: true}, nil
	}
	return nil, fmt.Errorf("blob directory %s: unknown layout %q", base, strings.TrimSpace(string(b)))
}

func (d *blobDir) oidPath(oid storage.OID) string {
	if d.lawn {
		return filepath.Join(d.base, tid.HexRepr(uint64(oid)))
	}
	parts := make([]string, 0, 9)
	parts = append(parts, d.base)
	for _, b := range oid.Bytes() {
		parts = append(parts, fmt.Sprintf("0x%02x", b))
	}
	return filepath.Join(parts...)
}

func (d *blobDir) path(oid storage.OID, serial tid.TID) string {
	return filepath.Join(d.oidPath(oid), serial.Repr()+".blob")
}

// TemporaryDirectory implements storage.BlobStorage.
func (s *Storage) TemporaryDirectory() string { return filepath.Join(s.blobs.base, "tmp") }

// SharedBlobPath implements storage.BlobStorage.
func (s *Storage) SharedBlobPath(oid storage.OID) string { return s.blobs.oidPath(oid) }

// LoadBlob implements storage.BlobStorage.
func (s *Storage) LoadBlob(oid storage.OID, serial tid.TID) (string, error) {
	p := s.blobs.path(oid, serial)
	if _, err := os.Stat(p); err != nil {
		return "", &storage.POSKeyError{OID: oid, Serial: &serial}
	}
	return p, nil
}

// blobTxn adds StoreBlob to a transaction of a storage with blobs: the
// file goes into place at once (the tid is known at Begin, as in ZODB's
// BlobStorageMixin) and is removed again if the transaction aborts.
type blobTxn struct {
	*txn
	dir    *blobDir
	placed []string
}

func (t *blobTxn) StoreBlob(oid storage.OID, serial tid.TID, data []byte, blobPath string) error {
	if err := t.Store(oid, serial, data); err != nil {
		os.Remove(blobPath)
		return err
	}
	dst := t.dir.path(oid, t.x.TID())
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		os.Remove(blobPath)
		return &storage.StorageError{Msg: err.Error()}
	}
	if err := os.Rename(blobPath, dst); err != nil {
		os.Remove(blobPath)
		return &storage.StorageError{Msg: err.Error()}
	}
	t.placed = append(t.placed, dst)
	return nil
}

func (t *blobTxn) Abort() {
	t.txn.Abort()
	for _, p := range t.placed {
		os.Remove(p)
	}
	t.placed = nil
}
