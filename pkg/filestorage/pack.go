package filestorage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zodbpickle"
)

// ErrDanglingReference aborts a GC pack: a reachable object refers to an
// oid that has no current data at the pack time (Python raises KeyError).
var ErrDanglingReference = errors.New("filestorage: pack: reference to a missing object")

// Pack removes the revisions no longer needed as of packTID (the tid
// form of the pack time: tid.FromUnix(t), as FileStorage.pack converts
// it), following ZODB 6.3's ZODB/FileStorage/fspack.py:
//
//   - transactions up to the pack time keep only the reachable current
//     revisions (all current revisions when gc is false), with their data
//     resolved, prev 0 and status 'p'; empty ones disappear;
//   - transactions after the pack time are copied with their pointers
//     moved to the new positions.
//
// Commits may run during the analysis and the first copy; the commit
// lock is held while the tail is copied and the files are swapped. The
// new index is written before the swap and the old one removed first, and
// Data.fs is replaced by an atomic rename (the old file stays as
// Data.fs.old), so a crash at any point leaves a usable storage.
//
// A pack that would free nothing, or one to a time already packed to,
// does nothing and returns nil.
func (s *FileStorage) Pack(packTID tid.TID, gc bool) error {
	if packTID == 0 {
		return fmt.Errorf("%w: invalid pack time", ErrTransaction)
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.ro:
		s.mu.Unlock()
		return ErrReadOnly
	case s.packing:
		s.mu.Unlock()
		return ErrPackInProgress
	case s.index.Len() == 0:
		s.mu.Unlock()
		return nil
	}
	s.packing = true
	p := &packer{s: s, stop: packTID, gc: gc, end: s.pos, f: s.f}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.packing = false
		s.mu.Unlock()
	}()
	os.Remove(s.path + ".old")
	if s.blobs != nil {
		os.RemoveAll(strings.TrimRight(s.blobs.dir, "/") + ".old")
	}
	return p.run()
}

type packer struct {
	s    *FileStorage
	stop tid.TID
	gc   bool
	end  int64
	f    *os.File
	r    *reader

	packpos   int64
	oid2cur   map[Oid]int64
	reachable map[Oid]int64
	reachEx   map[Oid][]int64

	removed  []string // blob .removed lines: oid hex, or oid+tid hex
	out      *os.File
	opos     int64
	index    *Index
	tidToPos map[tid.TID]int64 // output transactions, for backpointers
}

func (p *packer) fail(pos int64, field, format string, args ...any) error {
	return p.r.corrupt(pos, field, format, args...)
}

// walk visits the transactions in [from, to) with fstest/pack's strict
// checks and calls fn for each record.
func (p *packer) walk(from, to int64, ltid *tid.TID, txn func(h *TxnHeader) bool, rec func(h *TxnHeader, d *DataHeader)) (int64, error) {
	pos := from
	for pos < to {
		h, err := p.r.readTxnHeader(pos)
		if err != nil {
			return pos, err
		}
		if txn != nil && !txn(&h) {
			return pos, nil
		}
		if h.TID <= *ltid {
			return pos, p.fail(pos, "tid", "time-stamp reduction: %s <= %s", h.TID.Repr(), ltid.Repr())
		}
		*ltid = h.TID
		if h.Status != StatusNormal && h.Status != StatusPacked && h.Status != StatusUndone {
			return pos, p.fail(pos, "status", "invalid transaction status %q", h.Status)
		}
		if h.Next() > to {
			return pos, p.fail(pos, "transaction length", "tlen %d runs past %d", h.Len, to)
		}
		for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
			d, err := p.r.readDataHeader(dp, de)
			if err != nil {
				return pos, err
			}
			if d.TxnPos != pos {
				return pos, p.fail(dp, "tloc", "data record does not point to its transaction (%d, want %d)", d.TxnPos, pos)
			}
			if d.DataLen > 0 && d.Back != 0 {
				return pos, p.fail(dp, "backpointer", "record has data and a backpointer")
			}
			rec(&h, &d)
			dp += d.RecordLen()
		}
		if err := p.r.checkTxnEnd(&h); err != nil {
			return pos, err
		}
		pos = h.Next()
	}
	return pos, nil
}

func (p *packer) run() error {
	s := p.s
	p.r = newReader(p.f, s.path, p.end, 1<<20)
	// Phase 0: buildPackIndex.
	p.oid2cur = map[Oid]int64{}
	unpacked := false
	var last *TxnHeader
	var ltid tid.TID
	pos, err := p.walk(magicLen, p.end, &ltid, func(h *TxnHeader) bool {
		if h.TID > p.stop {
			return false
		}
		if h.Status != StatusPacked {
			unpacked = true
		}
		c := *h
		last = &c
		return true
	}, func(h *TxnHeader, d *DataHeader) {
		if h.Status == StatusUndone {
			return
		}
		if d.DataLen > 0 || d.Back != 0 {
			p.oid2cur[d.Oid] = d.Pos
		} else {
			delete(p.oid2cur, d.Oid)
		}
	})
	if err != nil {
		return err
	}
	p.packpos = pos
	if !unpacked {
		th := last
		if pos < p.end {
			h, err := p.r.readTxnHeader(pos)
			if err != nil {
				return err
			}
			th = &h
		}
		if th != nil && th.Status == StatusPacked {
			s.logf("%s: the database has already been packed to a later time or no changes have been made since the last pack", s.path)
			return nil
		}
	}
	if p.gc {
		p.reachable = map[Oid]int64{}
		p.reachEx = map[Oid][]int64{}
		if err := p.markFrom([]Oid{0}); err != nil {
			return err
		}
		if err := p.fromFuture(); err != nil {
			return err
		}
	} else {
		p.reachable = p.oid2cur
	}

	// Phase 1: copy up to the pack time.
	packPath := s.path + ".pack"
	p.out, err = os.OpenFile(packPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			p.out.Close()
			os.Remove(packPath)
		}
	}()
	if _, err := p.out.WriteAt([]byte(s.magic), 0); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	p.opos = magicLen
	p.index = NewIndex()
	p.tidToPos = map[tid.TID]int64{}
	if err := p.copyToPacktime(); err != nil {
		return err
	}
	if p.opos == p.packpos {
		return nil // nothing freed
	}
	if s.blobs != nil && len(p.removed) > 0 {
		// Written before the swap, as ZODB does, so the list survives.
		body := strings.Join(p.removed, "\n") + "\n"
		if err := os.WriteFile(filepath.Join(s.blobs.dir, ".removed"), []byte(body), 0o644); err != nil {
			return fmt.Errorf("pack: %w", err)
		}
	}

	// Phase 2: copy the rest with the commit lock held, then swap.
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.RLock()
	end, closed := s.pos, s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	p.r = newReader(p.f, s.path, end, 1<<20)
	for ipos := p.packpos; ipos < end; {
		next, err := p.copyOne(ipos)
		if err != nil {
			return err
		}
		ipos = next
	}
	if !s.opts.NoSync {
		if err := p.out.Sync(); err != nil {
			return fmt.Errorf("pack: %w", err)
		}
	}
	if err := WriteIndex(packPath+".index", p.opos, p.index); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		os.Remove(packPath + ".index")
		return ErrClosed
	}
	if err := p.out.Close(); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	// Order matters for crash safety: no stale index may ever sit next
	// to the new file, and Data.fs must always exist.
	if err := os.Remove(s.path + ".index"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("pack: %w", err)
	}
	if err := os.Link(s.path, s.path+".old"); err != nil {
		return fmt.Errorf("pack: keeping the old file: %w", err)
	}
	if err := os.Rename(packPath, s.path); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	ok = true
	syncDir(dirOf(s.path))
	if err := os.Rename(packPath+".index", s.path+".index"); err != nil {
		s.logf("pack: installing the index: %v", err)
	}
	syncDir(dirOf(s.path))
	nf, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		s.closed = true
		return fmt.Errorf("pack: reopening: %w", err)
	}
	s.f.Close()
	s.f = nf
	s.index = p.index
	s.pos = p.opos
	if s.blobs != nil {
		p.removeBlobs()
	}
	if s.opts.PackDiscardOld {
		// ZODB removes the old file once the pack is complete.
		if err := os.Remove(s.path + ".old"); err != nil && !os.IsNotExist(err) {
			s.logf("pack: removing %s.old: %v", s.path, err)
		}
	}
	return nil
}

// noteBlob is the blob part of copyDataRecords: an unreachable blob
// revision (or a whole unreachable blob object) is listed for removal,
// unless it duplicates the kept revision's tid (a ZEO blob bug).
func (p *packer) noteBlob(d *DataHeader) error {
	data, err := p.resolve(d)
	if err != nil || data == nil || !IsBlobRecord(data) {
		return err
	}
	rpos, ok := p.reachable[d.Oid]
	if ok {
		h, err := p.r.readDataHeader(rpos, p.r.size)
		if err != nil {
			return err
		}
		if h.TID == d.TID {
			return nil
		}
		p.removed = append(p.removed, d.Oid.Hex()+d.TID.Hex())
	} else {
		p.removed = append(p.removed, d.Oid.Hex())
	}
	return nil
}

// removeBlobs moves the listed blob files and directories into
// <blob_dir>.old (pack_keep_old), or deletes them (pack-keep-old false),
// then deletes .removed.
func (p *packer) removeBlobs() {
	b := p.s.blobs
	old := strings.TrimRight(b.dir, "/") + ".old"
	discard := p.s.opts.PackDiscardOld
	if !discard {
		os.MkdirAll(old, 0o700)
		if lb, err := os.ReadFile(filepath.Join(b.dir, layoutFile)); err == nil {
			os.WriteFile(filepath.Join(old, layoutFile), lb, 0o644)
		}
	}
	// away moves one path into old, or deletes it, then prunes the
	// directories left empty.
	away := func(path string) {
		if discard {
			if os.RemoveAll(path) != nil {
				return
			}
		} else {
			rel, err := filepath.Rel(b.dir, path)
			if err != nil {
				return
			}
			dst := filepath.Join(old, rel)
			os.MkdirAll(filepath.Dir(dst), 0o700)
			if os.Rename(path, dst) != nil {
				return
			}
		}
		for d := filepath.Dir(path); d != b.dir && strings.HasPrefix(d, b.dir); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	for _, line := range p.removed {
		var oid, t uint64
		if len(line) == 16 {
			fmt.Sscanf(line, "%016x", &oid)
			away(b.oidPath(Oid(oid)))
		} else {
			fmt.Sscanf(line, "%016x%016x", &oid, &t)
			away(b.filename(Oid(oid), tid.TID(t)))
		}
	}
	os.Remove(filepath.Join(b.dir, ".removed"))
	if discard {
		return
	}
	// As with pack_keep_old in ZODB, blobs.old also gets every surviving
	// blob file (hard links, or copies), so it holds a complete old
	// blob directory next to Data.fs.old.
	filepath.WalkDir(b.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, blobSuffix) {
			return nil
		}
		rel, err := filepath.Rel(b.dir, path)
		if err != nil || strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) {
			return nil
		}
		dst := filepath.Join(old, rel)
		if _, err := os.Lstat(dst); err == nil {
			return nil
		}
		os.MkdirAll(filepath.Dir(dst), 0o700)
		if os.Link(path, dst) != nil {
			copyFile(path, dst)
		}
		return nil
	})
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i+1]
		}
	}
	return "."
}

// refsAt returns the strong references of the data reached from pos.
func (p *packer) refsAt(pos int64) ([]uint64, error) {
	d, err := p.r.readDataHeader(pos, p.r.size)
	if err != nil {
		return nil, err
	}
	for d.DataLen == 0 && d.Back != 0 {
		if d, err = p.r.readDataHeader(d.Back, p.r.size); err != nil {
			return nil, err
		}
	}
	if d.DataLen == 0 {
		return nil, nil
	}
	data, err := p.r.readData(&d)
	if err != nil {
		return nil, err
	}
	refs, err := zodbpickle.References(data)
	if err != nil {
		return nil, fmt.Errorf("%s: offset %d: oid %s: %w", p.s.path, d.Pos, d.Oid.Repr(), err)
	}
	return refs, nil
}

// markFrom is findReachableAtPacktime: a depth-first walk from roots.
func (p *packer) markFrom(roots []Oid) error {
	todo := append([]Oid{}, roots...)
	for len(todo) > 0 {
		oid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, ok := p.reachable[oid]; ok {
			continue
		}
		pos, ok := p.oid2cur[oid]
		if !ok {
			if oid == 0 && len(p.oid2cur) == 0 {
				continue // packing to before the root was created
			}
			return fmt.Errorf("%w: oid %s", ErrDanglingReference, oid.Repr())
		}
		p.reachable[oid] = pos
		refs, err := p.refsAt(pos)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if _, ok := p.reachable[Oid(r)]; !ok {
				todo = append(todo, Oid(r))
			}
		}
	}
	return nil
}

// fromFuture is findReachableFromFuture: old revisions that records after
// the pack time point back to must survive, with what they reference.
func (p *packer) fromFuture() error {
	var extra []int64
	ltid := p.stop
	if p.packpos > magicLen {
		h, err := p.r.readTxnHeader(p.packpos - 8 - mustLen(p.r, p.packpos))
		if err == nil {
			ltid = h.TID
		}
	}
	_, err := p.walk(p.packpos, p.end, &ltid, nil, func(h *TxnHeader, d *DataHeader) {
		if d.Back != 0 && d.Back < p.packpos {
			if _, ok := p.reachable[d.Oid]; ok {
				l := p.reachEx[d.Oid]
				for _, b := range l {
					if b == d.Back {
						return
					}
				}
				p.reachEx[d.Oid] = append(l, d.Back)
				extra = append(extra, d.Back)
			} else {
				p.reachable[d.Oid] = d.Back
			}
		}
	})
	if err != nil {
		return err
	}
	for _, pos := range extra {
		refs, err := p.refsAt(pos)
		if err != nil {
			return err
		}
		roots := make([]Oid, len(refs))
		for i, r := range refs {
			roots[i] = Oid(r)
		}
		if err := p.markFrom(roots); err != nil {
			return err
		}
	}
	return nil
}

func mustLen(r *reader, end int64) int64 {
	v, err := r.redundantLen(end)
	if err != nil {
		return 0
	}
	return v
}

func (p *packer) isReachable(oid Oid, pos int64) bool {
	rp, ok := p.reachable[oid]
	if !ok {
		return false
	}
	if rp == pos {
		return true
	}
	for _, b := range p.reachEx[oid] {
		if b == pos {
			return true
		}
	}
	return false
}

// resolve returns the pickle a record stands for (nil: no data).
func (p *packer) resolve(d *DataHeader) ([]byte, error) {
	if d.DataLen > 0 {
		return p.r.readData(d)
	}
	data, _, err := p.r.loadBack(d.Oid, d.Back)
	return data, err
}

func (p *packer) writeTxn(rec []byte, tpos int64) error {
	tlen := int64(len(rec))
	binary.BigEndian.PutUint64(rec[8:16], uint64(tlen))
	rec = binary.BigEndian.AppendUint64(rec, uint64(tlen))
	if _, err := p.out.WriteAt(rec, tpos); err != nil {
		return fmt.Errorf("pack: %w", err)
	}
	p.opos = tpos + int64(len(rec))
	p.tidToPos[tid.FromBytes(rec[0:8])] = tpos
	return nil
}

func (p *packer) copyToPacktime() error {
	for pos := int64(magicLen); pos < p.packpos; {
		h, err := p.r.readTxnHeader(pos)
		if err != nil {
			return err
		}
		var rec []byte
		tpos := p.opos
		if h.Status != StatusUndone {
			for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
				d, err := p.r.readDataHeader(dp, de)
				if err != nil {
					return err
				}
				dp += d.RecordLen()
				if !p.isReachable(d.Oid, d.Pos) {
					if p.s.blobs != nil {
						if err := p.noteBlob(&d); err != nil {
							return err
						}
					}
					continue
				}
				if rec == nil {
					rec = appendTxnHeader(nil, h.TID, 0, StatusPacked, h.User, h.Description, h.Extension)
				}
				data, err := p.resolve(&d)
				if err != nil {
					return err
				}
				p.index.Set(d.Oid, tpos+int64(len(rec)))
				rec = appendDataRecord(rec, d.Oid, d.TID, 0, tpos, data, 0)
			}
		}
		if rec != nil {
			if err := p.writeTxn(rec, tpos); err != nil {
				return err
			}
		}
		pos = h.Next()
	}
	return nil
}

// copyOne copies a transaction after the pack time, moving its pointers.
func (p *packer) copyOne(ipos int64) (int64, error) {
	h, err := p.r.readTxnHeader(ipos)
	if err != nil {
		return 0, err
	}
	if h.Next() > p.r.size {
		return 0, p.fail(ipos, "transaction length", "tlen %d runs past %d", h.Len, p.r.size)
	}
	tpos := p.opos
	rec := appendTxnHeader(nil, h.TID, 0, h.Status, h.User, h.Description, h.Extension)
	tindex := map[Oid]int64{}
	for dp, de := h.DataPos(), h.DataEnd(); dp < de && h.Status != StatusUndone; {
		d, err := p.r.readDataHeader(dp, de)
		if err != nil {
			return 0, err
		}
		dp += d.RecordLen()
		data, err := p.resolve(&d)
		if err != nil {
			return 0, err
		}
		var back int64
		if d.DataLen == 0 && d.Back != 0 {
			bh, err := p.r.readDataHeader(d.Back, p.r.size)
			if err != nil {
				return 0, err
			}
			if otpos, ok := p.tidToPos[bh.TID]; ok {
				back, err = p.dataFind(otpos, d.Oid, data)
				if err != nil {
					return 0, err
				}
			}
		}
		prev, _ := p.index.Get(d.Oid)
		here := tpos + int64(len(rec))
		tindex[d.Oid] = here
		if back != 0 {
			rec = appendDataRecord(rec, d.Oid, d.TID, prev, tpos, nil, back)
		} else {
			rec = appendDataRecord(rec, d.Oid, d.TID, prev, tpos, data, 0)
		}
	}
	if err := p.writeTxn(rec, tpos); err != nil {
		return 0, err
	}
	for o, q := range tindex {
		p.index.Set(o, q)
	}
	return h.Next(), nil
}

// dataFind is PackCopier._data_find: the record of oid in the output
// transaction at tpos if it is a backpointer or holds exactly data.
func (p *packer) dataFind(tpos int64, oid Oid, data []byte) (int64, error) {
	r := newReader(p.out, p.out.Name(), p.opos, 0)
	h, err := r.readTxnHeader(tpos)
	if err != nil {
		return 0, err
	}
	for dp, de := h.DataPos(), h.DataEnd(); dp < de; {
		d, err := r.readDataHeader(dp, de)
		if err != nil {
			return 0, err
		}
		if d.Oid == oid {
			if d.DataLen == 0 {
				return dp, nil
			}
			if d.DataLen != int64(len(data)) {
				return 0, nil
			}
			got, err := r.readData(&d)
			if err != nil || !bytes.Equal(got, data) {
				return 0, err
			}
			return dp, nil
		}
		dp += d.RecordLen()
	}
	return 0, nil
}
