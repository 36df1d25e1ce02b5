package fsstorage

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// parseUndoTID decodes FileStorage's undo id (base64 of the tid).
func parseUndoTID(id []byte) (tid.TID, error) {
	b, err := base64.StdEncoding.DecodeString(string(id))
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("bad undo id")
	}
	return tid.FromBytes(b), nil
}

// Blob directory in ZODB's layout (ZODB 6.3 ZODB/blob.py, FilesystemHelper
// and the BushyLayout/LawnLayout classes): a ".layout" file naming "bushy" (one 0xNN directory per
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

// Undo links, for each object the undo touches, the blob file of the
// revision it goes back to under the new transaction's tid, as ZODB's
// BlobStorage does; an undone creation has no blob.
func (t *blobTxn) Undo(undoID []byte) ([]storage.OID, error) {
	oids, err := t.txn.Undo(undoID)
	if err != nil {
		return nil, err
	}
	undone, perr := parseUndoTID(undoID)
	if perr != nil {
		return oids, nil
	}
	for _, oid := range oids {
		_, start, _, ok, err := t.s.LoadBefore(oid, undone)
		if err != nil || !ok {
			continue
		}
		src := t.dir.path(oid, start)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		dst := t.dir.path(oid, t.x.TID())
		if err := os.Link(src, dst); err != nil {
			return nil, &storage.StorageError{Msg: fmt.Sprintf("undo: linking blob: %v", err)}
		}
		t.placed = append(t.placed, dst)
	}
	return oids, nil
}

// gcBlobs removes blob files whose revision pack removed from Data.fs.
func (s *Storage) gcBlobs() error {
	if s.blobs == nil {
		return nil
	}
	return filepath.WalkDir(s.blobs.base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if p == s.TemporaryDirectory() {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !strings.HasSuffix(name, ".blob") {
			return nil
		}
		serial, err := tid.ParseHex(strings.TrimSuffix(name, ".blob"))
		if err != nil {
			return nil
		}
		oid, ok := s.blobs.oidOf(filepath.Dir(p))
		if !ok {
			return nil
		}
		if _, err := s.fs.LoadSerial(filestorage.Oid(oid), serial); err != nil {
			os.Remove(p)
		}
		return nil
	})
}

// oidOf inverts oidPath.
func (d *blobDir) oidOf(dir string) (storage.OID, bool) {
	rel, err := filepath.Rel(d.base, dir)
	if err != nil {
		return 0, false
	}
	if d.lawn {
		t, err := tid.ParseHex(rel)
		return storage.OID(t), err == nil
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 8 {
		return 0, false
	}
	var v uint64
	for _, p := range parts {
		b, err := tid.ParseHex(p)
		if err != nil || b > 0xff {
			return 0, false
		}
		v = v<<8 | uint64(b)
	}
	return storage.OID(v), true
}
