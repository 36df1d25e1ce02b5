package filestorage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// Blob directory layouts (ZODB 6.3 ZODB/blob.py, BushyLayout and LawnLayout).
const (
	LayoutBushy = "bushy"
	LayoutLawn  = "lawn"
	layoutFile  = ".layout"
	blobSuffix  = ".blob"
)

// ErrBlob is wrapped by blob directory errors (layout mismatch, missing
// blob directory).
var ErrBlob = errors.New("filestorage: blob error")

// blobs is ZODB's FilesystemHelper.
type blobs struct {
	dir    string
	layout string
}

// openBlobs selects the layout as auto_layout_select does (the .layout
// marker; else bushy for a missing or unused directory, lawn for one
// that already holds files), checks a requested layout against it, and
// creates the directory, tmp/ and the marker.
func openBlobs(dir, want string, create bool) (*blobs, error) {
	layout := ""
	if b, err := os.ReadFile(filepath.Join(dir, layoutFile)); err == nil {
		layout = strings.TrimSpace(string(b))
	} else if ents, err := os.ReadDir(dir); err != nil {
		layout = LayoutBushy
	} else {
		layout = LayoutBushy
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				layout = LayoutLawn
				break
			}
		}
	}
	if layout != LayoutBushy && layout != LayoutLawn {
		return nil, fmt.Errorf("%w: %s: unknown layout %q", ErrBlob, filepath.Join(dir, layoutFile), layout)
	}
	if want != "" && want != "automatic" && want != layout {
		return nil, fmt.Errorf("%w: Directory layout `%s` selected for blob directory %s, but marker found for layout `%s`", ErrBlob, want, dir, layout)
	}
	b := &blobs{dir: dir, layout: layout}
	if create {
		if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBlob, err)
		}
		mp := filepath.Join(dir, layoutFile)
		if _, err := os.Stat(mp); os.IsNotExist(err) {
			if err := os.WriteFile(mp, []byte(layout), 0o644); err != nil { // no newline, as ZODB
				return nil, fmt.Errorf("%w: %w", ErrBlob, err)
			}
		}
	}
	return b, nil
}

// oidPath is the directory of an oid's blob files.
func (b *blobs) oidPath(oid Oid) string {
	if b.layout == LayoutLawn {
		return filepath.Join(b.dir, oid.Repr())
	}
	// bushy: one directory per byte, most significant first (the source
	// comment says least significant; the code does this).
	o := oid.Bytes()
	parts := []string{b.dir}
	for _, c := range o {
		parts = append(parts, fmt.Sprintf("0x%02x", c))
	}
	return filepath.Join(parts...)
}

func (b *blobs) filename(oid Oid, t tid.TID) string {
	return filepath.Join(b.oidPath(oid), t.Repr()+blobSuffix)
}

// IsBlobRecord is ZODB's is_blob_record: the pickle's class is
// ZODB.blob.Blob.
func IsBlobRecord(data []byte) bool {
	if !bytes.Contains(data, []byte("ZODB.blob")) {
		return false
	}
	m, c := zodbpickle.ClassName(data)
	return m == "ZODB.blob" && c == "Blob"
}

// BlobDir is the blob directory ("" without blobs).
func (s *FileStorage) BlobDir() string {
	if s.blobs == nil {
		return ""
	}
	return s.blobs.dir
}

// TemporaryDirectory is where clients put uploaded blob files before
// StoreBlob (on the same file system, so the commit is a rename).
func (s *FileStorage) TemporaryDirectory() string {
	if s.blobs == nil {
		return ""
	}
	return filepath.Join(s.blobs.dir, "tmp")
}

// BlobFilename is the committed file of (oid, serial), present or not.
func (s *FileStorage) BlobFilename(oid Oid, serial tid.TID) (string, error) {
	if s.blobs == nil {
		return "", fmt.Errorf("%w: storage has no blob directory", ErrBlob)
	}
	return s.blobs.filename(oid, serial), nil
}

// LoadBlob returns the file holding the blob of (oid, serial); a missing
// file is a POSKeyError, as in ZODB.
func (s *FileStorage) LoadBlob(oid Oid, serial tid.TID) (string, error) {
	name, err := s.BlobFilename(oid, serial)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(name); err != nil {
		//lint:ignore ST1005 ZODB 6.3 BlobStorageMixin.loadBlob's POSKeyError text
		return "", fmt.Errorf("No blob file at %s: %w", name, &KeyError{Oid: oid})
	}
	return name, nil
}

// StoreBlob stores a blob record and moves blobFile into place as the
// committed file of (oid, this tid), before vote as ZODB does; Abort
// removes it again.
func (x *Txn) StoreBlob(oid Oid, oldSerial tid.TID, data []byte, blobFile string) error {
	if x.s.blobs == nil {
		return fmt.Errorf("%w: storage has no blob directory", ErrBlob)
	}
	if err := x.Store(oid, oldSerial, data); err != nil {
		return err
	}
	return x.placeBlob(oid, blobFile, true)
}

func (x *Txn) placeBlob(oid Oid, src string, move bool) error {
	b := x.s.blobs
	if err := os.MkdirAll(b.oidPath(oid), 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrBlob, err)
	}
	dst := b.filename(oid, x.tid)
	var err error
	if move {
		err = os.Rename(src, dst)
	}
	if !move || err != nil {
		if err = copyFile(src, dst); err == nil && move {
			os.Remove(src)
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBlob, err)
	}
	setNotWritable(dst)
	x.blobFiles = append(x.blobFiles, dst)
	return nil
}

// setNotWritable is ZODB's set_not_writable: no write bits, the
// directory's read bits.
func setNotWritable(p string) {
	st, err := os.Lstat(p)
	if err != nil {
		return
	}
	perm := st.Mode().Perm() &^ 0o222
	if dst, err := os.Lstat(filepath.Dir(p)); err == nil {
		perm |= dst.Mode().Perm() & 0o444
	}
	os.Chmod(p, perm)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (x *Txn) removeBlobs() {
	for _, f := range x.blobFiles {
		os.Remove(f)
	}
	x.blobFiles = nil
}
