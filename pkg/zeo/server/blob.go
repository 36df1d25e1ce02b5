package server

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Blob protocol (ZEO 6.0 ZEOStorage.storeBlobStart/Chunk/End/Shared): uploads arrive as
// storeBlobStart / storeBlobChunk* / storeBlobEnd (or storeBlobShared for
// a shared blob directory) and are kept as files owned by the ZEO-level
// transaction; each vote round hands the storage a hard link (or copy) so
// a conflict round can replay them. Downloads (sendBlob) stream
// receiveBlobStart / receiveBlobChunk* / receiveBlobStop before the reply.

// blobChunk is ZEO's chunk size for blob transfers.
const blobChunk = 59000

func (c *conn) blobStorage() (storage.BlobStorage, error) {
	bs, ok := c.store.st.(storage.BlobStorage)
	if !ok {
		return nil, remote(ClassStorageError, "this storage does not support blobs")
	}
	return bs, nil
}

func (c *conn) dropBlobUploadLocked() {
	if c.blobUp != nil {
		c.blobUp.Close()
		os.Remove(c.blobUp.Name())
		c.blobUp = nil
	}
}

func (c *conn) storeBlobStart(id any, args wire.Tuple) (any, error) {
	// A read-only connection may not upload at all: before this check
	// storeBlobChunk wrote every chunk into the blob temporary directory,
	// so a read-only client could fill a read-only server's disk
	// (docs/reliability.md finding 1). ZEO refuses at tpc_begin; the
	// upload comes before it, so it is refused here too.
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	bs, err := c.blobStorage()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropBlobUploadLocked()
	f, err := os.CreateTemp(bs.TemporaryDirectory(), "zeo-upload-*.tmp")
	if err != nil {
		return nil, err
	}
	c.blobUp = f
	return nil, nil
}

func (c *conn) storeBlobChunk(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	chunk, err := argBytes(args, 0, "chunk")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobUp == nil {
		return nil, stErr("storeBlobChunk without storeBlobStart")
	}
	_, err = c.blobUp.Write(chunk)
	return nil, err
}

func (c *conn) storeBlobEnd(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	data, err := argBytes(args, 2, "data")
	if err != nil {
		return nil, err
	}
	txnID, err := arg(args, 3, "txn")
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	f := c.blobUp
	c.blobUp = nil
	c.mu.Unlock()
	if f == nil {
		return nil, stErr("storeBlobEnd without storeBlobStart")
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	if err := c.addOp(txnID, txnOp{kind: opStore, oid: oid, serial: serial, data: nz(data), blob: f.Name()}); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return nil, nil
}

// storeBlobShared: the client wrote the file into the shared blob
// directory itself; only a plain file name inside oid's directory, ending
// in .tmp (plus at most one character), is accepted. ZEO logs "We're under
// attack!" for anything else.
func (c *conn) storeBlobShared(id any, args wire.Tuple) (any, error) {
	if c.readOnly {
		return nil, storage.ErrReadOnly
	}
	bs, err := c.blobStorage()
	if err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	data, err := argBytes(args, 2, "data")
	if err != nil {
		return nil, err
	}
	nameV, err := arg(args, 3, "filename")
	if err != nil {
		return nil, err
	}
	name, _ := wire.AsString(nameV)
	txnID, err := arg(args, 4, "txn")
	if err != nil {
		return nil, err
	}
	base := filepath.Base(name)
	if base != name || strings.ContainsAny(name, `/\`) || name == ".." ||
		!(strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name[:max(len(name)-1, 0)], ".tmp")) {
		c.srv.log.critical("ZEO.StorageServer", "(%s) We're under attack! (bad blob file name %s)", c.logName(), pyQuote(name))
		return nil, valueError("bad blob file name %s", name)
	}
	path := filepath.Join(bs.SharedBlobPath(oid), name)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return nil, c.addOp(txnID, txnOp{kind: opStore, oid: oid, serial: serial, data: nz(data), blob: path})
}

// storeBlobInto hands the storage its own link to the upload so that the
// transaction keeps the original for a later vote round.
func (c *conn) storeBlobInto(stxn storage.Transaction, op txnOp) error {
	bt, ok := stxn.(storage.BlobTransaction)
	if !ok {
		return remote(ClassStorageError, "this storage does not support blobs")
	}
	bs, err := c.blobStorage()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(bs.TemporaryDirectory(), "zeo-vote-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	os.Remove(tmp)
	if err := os.Link(op.blob, tmp); err != nil {
		if err := copyFile(op.blob, tmp); err != nil {
			return err
		}
	}
	if err := bt.StoreBlob(op.oid, op.serial, op.data, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(to)
		return err
	}
	return out.Close()
}

// removeBlobs deletes the transaction's uploads (after finish or abort).
func (t *ztxn) removeBlobs() {
	for i := range t.ops {
		if t.ops[i].blob != "" {
			os.Remove(t.ops[i].blob)
			t.ops[i].blob = ""
		}
	}
}

func (c *conn) sendBlob(id any, args wire.Tuple) (any, error) {
	bs, err := c.blobStorage()
	if err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1, "serial")
	if err != nil {
		return nil, err
	}
	path, err := bs.LoadBlob(oid, serial)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &storage.POSKeyError{OID: oid, Serial: &serial}
		}
		return nil, err
	}
	defer f.Close()
	ob, sb := oid.Bytes(), storage.TIDBytes(serial)
	c.callAsync("receiveBlobStart", wire.Tuple{ob, sb})
	buf := make([]byte, blobChunk)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			c.callAsync("receiveBlobChunk", wire.Tuple{ob, sb, append([]byte(nil), buf[:n]...)})
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading blob %s: %w", path, err)
		}
	}
	c.callAsync("receiveBlobStop", wire.Tuple{ob, sb})
	return nil, nil
}
