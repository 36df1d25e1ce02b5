package filestorage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/gofrs/flock"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Options control Open.
type Options struct {
	// ReadOnly opens without the lock file, never writes, and stops at
	// an incomplete trailing transaction instead of cutting it off.
	ReadOnly bool
	// Create starts a new empty storage, truncating an existing file
	// (FileStorage(create=True)).
	Create bool
	// NoSync skips every fsync (tests and benchmarks only).
	NoSync bool
	// DeferFinishSync makes Finish skip its fsync; the caller must call
	// Sync before telling clients the transactions are committed. A
	// server uses it for group commit: finish several transactions,
	// then one Sync.
	DeferFinishSync bool
	// Logf receives the warnings Python logs (index ignored, tid order,
	// truncation). Nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock used for new tids (nil: time.Now).
	Now func() tid.TID
	// BlobDir enables blobs (ZConfig blob-dir); BlobLayout is "bushy",
	// "lawn" or "" / "automatic" (chosen as ZODB chooses it).
	BlobDir    string
	BlobLayout string
	// PackDiscardOld is ZConfig's pack-keep-old false (ZODB 6.3
	// FileStorage.pack): after a pack, Data.fs.old is removed and the
	// packed-away blob files are deleted instead of kept in
	// <blob-dir>.old.
	PackDiscardOld bool
}

// FileStorage is an open Data.fs. All methods are safe for concurrent
// use. Reads see only finished transactions; one transaction at a time
// goes through Begin..Finish/Abort (the commit lock).
type FileStorage struct {
	path string
	opts Options
	f    *os.File
	lock *flock.Flock
	ro   bool

	mu     sync.RWMutex // guards the fields below and the file size/identity
	index  *Index
	pos    int64   // end of the last finished transaction
	ltid   tid.TID // last finished transaction's tid
	ts     tid.TID // last tid handed out (even if aborted or cut off)
	maxOid Oid
	magic  string
	closed bool
	// packing blocks undoLog and a second pack (Python's
	// _pack_is_in_progress).
	packing bool
	txn     *Txn // the transaction holding the commit lock, if any

	commitMu sync.Mutex // the commit lock: held from Begin to Finish/Abort
	blobs    *blobs
}

func (s *FileStorage) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// Path returns the data file's path.
func (s *FileStorage) Path() string { return s.path }

// Open opens (or, when writable, creates) the FileStorage at path.
func Open(path string, opts Options) (*FileStorage, error) {
	s := &FileStorage{path: path, opts: opts, ro: opts.ReadOnly}
	if s.ro && opts.Create {
		return nil, fmt.Errorf("%s: cannot create a read-only storage: %w", path, ErrReadOnly)
	}
	if !s.ro {
		if err := s.takeLock(); err != nil {
			return nil, err
		}
	}
	if opts.BlobDir != "" {
		if opts.Create {
			// FileStorage(create=True) starts with an empty blob dir.
			os.RemoveAll(opts.BlobDir)
		}
		b, err := openBlobs(opts.BlobDir, opts.BlobLayout, !s.ro)
		if err != nil {
			s.releaseLock()
			return nil, err
		}
		s.blobs = b
	}
	if err := s.open(); err != nil {
		s.releaseLock()
		if s.f != nil {
			s.f.Close()
		}
		return nil, err
	}
	return s, nil
}

// takeLock is zc.lockfile: flock(LOCK_EX|LOCK_NB) on Data.fs.lock, then
// " <pid>\n" written at offset 0 (zc.lockfile's LockFile). The file is never removed.
func (s *FileStorage) takeLock() error {
	lp := s.path + ".lock"
	// zc.lockfile opens it with open(path, 'a+'): mode 0666 less the
	// umask (0644 under the usual 022), not flock's default 0600.
	l := flock.New(lp, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o666))
	ok, err := l.TryLock()
	if err != nil {
		return fmt.Errorf("%s: %w: %w", lp, ErrLocked, err)
	}
	if !ok {
		//lint:ignore ST1005 zc.lockfile's LockError text, which scripts match
		return fmt.Errorf("Couldn't lock %s: %w", lp, ErrLocked)
	}
	// flock does not expose its descriptor; writing through a second one
	// is fine because the lock belongs to the first open file.
	if f, err := os.OpenFile(lp, os.O_WRONLY, 0); err == nil {
		f.Truncate(0)
		f.WriteAt([]byte(" "+strconv.Itoa(os.Getpid())+"\n"), 0)
		f.Close()
	}
	s.lock = l
	return nil
}

func (s *FileStorage) releaseLock() {
	if s.lock != nil {
		s.lock.Unlock()
		s.lock = nil
	}
}

func (s *FileStorage) open() error {
	var err error
	if s.ro {
		s.f, err = os.Open(s.path)
	} else {
		flag := os.O_RDWR | os.O_CREATE
		if s.opts.Create {
			flag |= os.O_TRUNC
		}
		s.f, err = os.OpenFile(s.path, flag, 0o644)
	}
	if err != nil {
		return fmt.Errorf("opening storage: %w", err)
	}
	size, err := s.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	s.index = NewIndex()
	if size == 0 {
		s.magic = MagicFS30
		s.pos = magicLen
		if !s.ro {
			if _, err := s.f.WriteAt([]byte(MagicFS30), 0); err != nil {
				return fmt.Errorf("%s: writing magic: %w", s.path, err)
			}
			if err := s.sync(); err != nil {
				return err
			}
			// A new storage must not inherit an index of an older file.
			os.Remove(s.path + ".index")
		}
		return nil
	}
	magic := make([]byte, magicLen)
	if n, _ := s.f.ReadAt(magic, 0); n < magicLen || (string(magic) != MagicFS30 && string(magic) != MagicFS21) {
		return fmt.Errorf("%s: offset 0: magic %q is not a FileStorage (want FS30 or FS21): %w", s.path, magic[:n], ErrFormat)
	}
	s.magic = string(magic)

	start := int64(magicLen)
	var ltid tid.TID
	fromIndex := false
	if ipos, idx, err := ReadIndex(s.path + ".index"); err == nil {
		if t, ok := s.checkSanity(idx, ipos, size); ok {
			s.index, start, ltid, fromIndex = idx, ipos, t, true
		} else {
			s.logf("Ignoring index for %s", s.path)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		s.logf("Failed to load database index: %v", err)
	}
	if err := s.scan(start, ltid, size); err != nil {
		return err
	}
	if m, ok := s.index.MaxKey(); ok {
		s.maxOid = m
	}
	if !s.ro && !fromIndex {
		// Python saves a rebuilt index at once (ZODB 6.3 FileStorage.__init__).
		if err := WriteIndex(s.path+".index", s.pos, s.index); err != nil {
			s.logf("saving index: %v", err)
		}
	}
	return nil
}

func (s *FileStorage) sync() error {
	if s.opts.NoSync {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("%s: fsync: %w", s.path, err)
	}
	return nil
}

// checkSanity is Python's _check_sanity: the index is trusted only if
// the last transaction before pos is a proper ' '/'p' transaction whose
// first (up to 5) data records agree with the index.
func (s *FileStorage) checkSanity(idx *Index, pos, size int64) (tid.TID, bool) {
	if pos < 100 || pos > size {
		return 0, false
	}
	r := newReader(s.f, s.path, size, 0)
	var ltid tid.TID
	first := true
	for {
		tl, err := r.redundantLen(pos)
		if err != nil {
			return 0, false
		}
		pos = pos - tl - 8
		if pos < magicLen {
			return 0, false
		}
		h, err := r.readTxnHeader(pos)
		if err != nil {
			return 0, false
		}
		if first {
			ltid, first = h.TID, false
		}
		if h.Len != tl {
			return 0, false
		}
		if h.Status == StatusUndone {
			continue
		}
		if h.Status != StatusNormal && h.Status != StatusPacked {
			return 0, false
		}
		opos, tend := h.DataPos(), h.DataEnd()
		if opos == tend {
			continue
		}
		for checked := 0; opos < tend && checked < 5; checked++ {
			d, err := r.readDataHeader(opos, tend)
			if err != nil || d.TxnPos != pos {
				return 0, false
			}
			if p, ok := idx.Get(d.Oid); !ok || p != opos {
				return 0, false
			}
			opos += d.RecordLen()
		}
		return ltid, true
	}
}

// scan is Python's read_index: walk the transactions from pos to EOF,
// adding their records to the index, and cut off (writable) or stop
// before (read-only) an incomplete tail (ZODB 6.3 FileStorage.read_index; docs/design/data-fs.md).
func (s *FileStorage) scan(pos int64, ltid tid.TID, size int64) error {
	r := newReader(s.f, s.path, size, 1<<20)
	s.ltid, s.ts = ltid, ltid
	for {
		if pos == size {
			break
		}
		if size-pos < TxnHeaderLen {
			if !s.ro {
				s.logf("%s: truncating %d stray bytes at %d", s.path, size-pos, pos)
				if err := s.truncateAt(pos, false); err != nil {
					return err
				}
			}
			break
		}
		b, err := r.at(pos, TxnHeaderLen)
		if err != nil {
			return r.ioErr(err, pos, "transaction header")
		}
		t := tid.FromBytes(b[0:8])
		tl, okLen := u64pos(b[8:16])
		status := b[16]
		hl := TxnHeaderLen + int64(uint16(b[17])<<8|uint16(b[18])) + int64(uint16(b[19])<<8|uint16(b[20])) + int64(uint16(b[21])<<8|uint16(b[22]))
		if t <= s.ltid && s.ltid != 0 {
			s.logf("%s: time stamp %s at %d is not after %s", s.path, t, pos, s.ltid)
		}
		if !okLen || pos+tl+8 > size || status == StatusCheckpoint {
			// Crash during commit: the transaction never finished.
			if t > s.ts {
				s.ts = t // new tids stay above the dropped one (read_index reports the dropped tid)
			}
			if !s.ro {
				s.logf("%s: cutting off incomplete transaction at %d", s.path, pos)
				if err := s.truncateAt(pos, true); err != nil {
					return err
				}
			}
			break
		}
		if status != StatusNormal && status != StatusPacked && status != StatusUndone {
			return r.corrupt(pos, "status", "invalid transaction status %q", status)
		}
		if tl < hl {
			rtl, err := r.redundantLen(size)
			if err == nil && (size-rtl < pos || rtl < TxnHeaderLen) {
				if t > s.ts {
					s.ts = t
				}
				if !s.ro {
					if err := s.truncateAt(pos, true); err != nil {
						return err
					}
				}
				break
			}
			return r.corrupt(pos, "transaction length", "tlen %d is smaller than the header length %d", tl, hl)
		}
		h := TxnHeader{Pos: pos, TID: t, Len: tl, Status: status}
		if err := r.checkTxnEnd(&h); err != nil {
			return err
		}
		if status != StatusUndone {
			opos, tend := pos+hl, pos+tl
			for opos < tend {
				d, err := r.readDataHeader(opos, tend)
				if err != nil {
					return err
				}
				if d.TxnPos != pos {
					return r.corrupt(opos, "tloc", "transaction pointer %d, want %d", d.TxnPos, pos)
				}
				if old, _ := s.index.Get(d.Oid); old != d.Prev {
					s.logf("%s: record at %d: prev %d does not match the index (%d)", s.path, opos, d.Prev, old)
				}
				s.index.Set(d.Oid, opos)
				opos += d.RecordLen()
			}
			if opos != tend {
				return r.corrupt(pos, "data records", "records end at %d, not at the transaction end %d", opos, tend)
			}
		}
		s.ltid = t
		if t > s.ts {
			s.ts = t
		}
		pos += tl + 8
	}
	s.pos = pos
	return nil
}

// truncateAt cuts the file at pos, first saving the bytes beyond it to
// the first free Data.fs.trN when keep is set (as Python does).
func (s *FileStorage) truncateAt(pos int64, keep bool) error {
	if keep {
		for i := 0; ; i++ {
			name := s.path + ".tr" + strconv.Itoa(i)
			out, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: saving the cut-off tail: %w", s.path, err)
			}
			_, err = io.Copy(out, io.NewSectionReader(s.f, pos, 1<<62))
			if err == nil && !s.opts.NoSync {
				err = out.Sync()
			}
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			break
		}
	}
	if err := s.f.Truncate(pos); err != nil {
		return fmt.Errorf("%s: truncating at %d: %w", s.path, pos, err)
	}
	return s.sync()
}

// Close saves the index (writable opens, like Python's close), releases
// the lock and closes the file. A transaction still in progress is
// aborted first.
func (s *FileStorage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if t := s.txn; t != nil && t.voted {
		// Vote wrote a 'c' transaction past s.pos: remove it, as
		// tpc_abort would.
		s.f.Truncate(s.pos)
	}
	var err error
	if !s.ro {
		err = WriteIndex(s.path+".index", s.pos, s.index)
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.releaseLock()
	return err
}

// Sync flushes finished transactions to disk (see DeferFinishSync).
func (s *FileStorage) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.ro {
		return nil
	}
	return s.sync()
}
