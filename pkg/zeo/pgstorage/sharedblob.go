package pgstorage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// shared-blob-dir true (RelStorage 4.2 blobhelper/shared.py,
// SharedBlobHelper): blobs live only in the blob directory, which every
// front end (and every ZEO client with shared_blob_dir) sees, in ZODB's
// bushy layout; the database holds no large objects for them. A blob
// exists exactly when its file <oid dir>/<tid>.blob does.
//
// The file needs the transaction's tid, known only once the commit lock
// is held. RelStorage's shared helper therefore takes the commit lock at
// vote (NEEDS_DB_LOCK_TO_VOTE) and moves the files into place there,
// which keeps every other commit of the database waiting while the
// client finishes. Here the vote takes no global lock: at finish, a
// transaction with blobs chooses its tid in a round trip of its own
// (lock_and_choose_tid, which takes lock -1), renames its files into
// place, and then moves its rows and commits. Lock -1 is held over the
// renames only, and the files are in place before any process can see
// the tid, so no client is told of a blob that is not there yet.

// WithSharedBlobs serves blobs kept only in dir, which the front ends
// share.
func WithSharedBlobs(s *Storage, dir string) (*BlobStorage, error) {
	bs, err := WithBlobs(s, dir)
	if err != nil {
		return nil, err
	}
	bs.shared = true
	s.sharedBlobs = bs
	return bs, nil
}

// loadSharedBlob: the file is the blob, or there is none (RelStorage's
// SharedBlobHelper._loadBlobInternal).
func (s *BlobStorage) loadSharedBlob(oid storage.OID, serial tid.TID) (string, error) {
	p := s.path(oid, serial)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", &storage.POSKeyError{OID: oid, Serial: &serial}
		}
		return "", &storage.StorageError{Msg: fmt.Sprintf("loadBlob: %v", err)}
	}
	return p, nil
}

// sharedBlobsToPlace tells whether Finish must place blob files under
// the tid before it commits.
func (t *txn) sharedBlobsToPlace() bool {
	return t.blobs != nil && t.blobs.shared && len(t.blobFiles) > 0
}

// placeSharedBlobs chooses the tid under the commit lock when the
// transaction has none yet (given nil; a restore holds the lock and has
// its tid already) and renames the uploads into place under it. The
// uploads' new names stay in blobFiles, so that a failed commit removes
// them. It returns the tid, for lock_and_choose_tid_and_move.
func (t *txn) placeSharedBlobs(ctx context.Context, given any) (any, error) {
	if given == nil {
		var chosen int64
		var err error
		if t.s.hp {
			user, desc := t.userDesc()
			err = t.conn.QueryRow(ctx, `SELECT lock_and_choose_tid(FALSE, $1, $2, $3)`, user, desc, t.ext).Scan(&chosen)
		} else {
			err = t.conn.QueryRow(ctx, `SELECT lock_and_choose_tid()`).Scan(&chosen)
		}
		if err != nil {
			return nil, convErr("tpc_finish (choosing the tid)", err)
		}
		given = chosen
	}
	newTid := tid.TID(given.(int64))
	for oid, p := range t.blobFiles {
		dst := t.blobs.path(oid, newTid)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return nil, &storage.StorageError{Msg: fmt.Sprintf("tpc_finish: placing the blob of %s: %v", oid, err)}
		}
		if err := os.Rename(p, dst); err != nil {
			return nil, &storage.StorageError{Msg: fmt.Sprintf("tpc_finish: placing the blob of %s: %v", oid, err)}
		}
		t.blobFiles[oid] = dst
	}
	return given, nil
}

// dropBlobsAfter removes the uploads of a finish that failed with err,
// except shared blob files already in place when the session was lost:
// the COMMIT may have gone through, and then the files are the only copy.
// If it did not, they are files of a tid nothing refers to, which a
// pack removes (sweepSharedBlobs).
func (t *txn) dropBlobsAfter(err error) {
	if t.blobs != nil && t.blobs.shared && sessionLost(err) {
		t.blobFiles = nil
		return
	}
	t.dropBlobs()
}

// undoSharedBlob brings back the blob file an undo restores
// (RelStorage's SharedBlobHelper.copy_undone): a copy of the file of
// the revision written back, placed under the new tid at finish.
func (t *txn) undoSharedBlob(oid storage.OID, prevTid tid.TID) error {
	src := t.blobs.path(oid, prevTid)
	in, err := os.Open(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // not a blob
	}
	if err != nil {
		return &storage.StorageError{Msg: fmt.Sprintf("undo: the blob of %s: %v", oid, err)}
	}
	defer in.Close()
	out, err := os.CreateTemp(t.blobs.TemporaryDirectory(), "pg-undo-*.tmp")
	if err != nil {
		return &storage.StorageError{Msg: fmt.Sprintf("undo: the blob of %s: %v", oid, err)}
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return &storage.StorageError{Msg: fmt.Sprintf("undo: copying the blob of %s: %v", oid, err)}
	}
	t.takeBlob(oid, out.Name())
	return nil
}

// sweepSharedBlobs removes, after a pack to packTid, the blob files of
// revisions the database no longer has (RelStorage's
// SharedBlobHelper.after_pack, which removes them row by row). Only
// files of tids up to packTid are considered: a commit in flight places
// its file under a newer tid before its rows are visible.
func (s *Storage) sweepSharedBlobs(ctx context.Context, packTid tid.TID) error {
	bs := s.sharedBlobs
	type blobFile struct {
		path string
		oid  int64
		tid  int64
	}
	var files []blobFile
	err := filepath.WalkDir(bs.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != bs.dir && !strings.HasPrefix(d.Name(), "0x") {
				return filepath.SkipDir // tmp and anything not of the layout
			}
			return nil
		}
		oid, serial, ok := bs.parseBlobPath(p)
		if ok && serial <= packTid {
			files = append(files, blobFile{p, int64(oid), int64(serial)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pack: scanning blob-dir: %w", err)
	}
	for len(files) > 0 {
		batch := files[:min(len(files), packBatch)]
		files = files[len(batch):]
		oids := make([]int64, len(batch))
		tids := make([]int64, len(batch))
		for i, f := range batch {
			oids[i], tids[i] = f.oid, f.tid
		}
		rows, err := s.pool.Query(ctx, `SELECT i FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS u(zoid, tid, i)
			WHERE NOT EXISTS (SELECT 1 FROM object_state o WHERE o.zoid = u.zoid AND o.tid = u.tid)`, oids, tids)
		if err != nil {
			return convErr("pack (blob files)", err)
		}
		var gone []int64
		for rows.Next() {
			var i int64
			if err := rows.Scan(&i); err != nil {
				rows.Close()
				return convErr("pack (blob files)", err)
			}
			gone = append(gone, i)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return convErr("pack (blob files)", err)
		}
		for _, i := range gone {
			p := batch[i-1].path
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("pack: removing %s: %w", p, err)
			}
			// An oid directory left empty goes too (ZODB's
			// remove_committed_dir); a non-empty one stays.
			os.Remove(filepath.Dir(p))
		}
	}
	return nil
}

// parseBlobPath reads the oid and tid out of <dir>/0x../.../0x<tid>.blob
// (the bushy layout: one directory per byte of the oid).
func (s *BlobStorage) parseBlobPath(p string) (storage.OID, tid.TID, bool) {
	rel, err := filepath.Rel(s.dir, p)
	if err != nil {
		return 0, 0, false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	if len(parts) != 9 || !strings.HasSuffix(parts[8], ".blob") {
		return 0, 0, false
	}
	var oid uint64
	for _, part := range parts[:8] {
		b, err := strconv.ParseUint(strings.TrimPrefix(part, "0x"), 16, 8)
		if err != nil || len(part) != 4 || !strings.HasPrefix(part, "0x") {
			return 0, 0, false
		}
		oid = oid<<8 | b
	}
	serial, err := tid.ParseHex(strings.TrimSuffix(parts[8], ".blob"))
	if err != nil {
		return 0, 0, false
	}
	return storage.OID(oid), serial, true
}
