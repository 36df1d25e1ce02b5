package filestorage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Hand-built encodings, independent of format.go, to check file bytes.
func txnBytes(t tid.TID, status byte, user, desc, ext string, recs ...[]byte) []byte {
	var body []byte
	for _, r := range recs {
		body = append(body, r...)
	}
	tlen := uint64(23 + len(user) + len(desc) + len(ext) + len(body))
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint64(t))
	binary.Write(&b, binary.BigEndian, tlen)
	b.WriteByte(status)
	binary.Write(&b, binary.BigEndian, uint16(len(user)))
	binary.Write(&b, binary.BigEndian, uint16(len(desc)))
	binary.Write(&b, binary.BigEndian, uint16(len(ext)))
	b.WriteString(user + desc + ext)
	b.Write(body)
	binary.Write(&b, binary.BigEndian, tlen)
	return b.Bytes()
}

func recBytes(oid Oid, t tid.TID, prev, tloc uint64, data []byte, back uint64) []byte {
	var b bytes.Buffer
	for _, v := range []uint64{uint64(oid), uint64(t), prev, tloc} {
		binary.Write(&b, binary.BigEndian, v)
	}
	b.Write([]byte{0, 0})
	binary.Write(&b, binary.BigEndian, uint64(len(data)))
	if len(data) > 0 {
		b.Write(data)
	} else {
		binary.Write(&b, binary.BigEndian, back)
	}
	return b.Bytes()
}

func fileIs(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %x\nwant %x", filepath.Base(path), got, want)
	}
}

// fixedClock returns tids from a fixed time so tests know them.
func fixedClock(start tid.TID) func() tid.TID { return func() tid.TID { return start } }

func TestCommitBytes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Data.fs")
	t0 := tid.TID(0x040d3f174b41c4cc)
	s, err := Open(p, Options{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fileIs(t, p, []byte("FS30"))
	fileIs(t, p+".lock", []byte(" "+strconv.Itoa(os.Getpid())+"\n"))
	if s.LastTransaction() != 0 || s.Len() != 0 {
		t.Fatal("new storage not empty")
	}
	if _, _, err := s.Load(0); !errors.Is(err, ErrPOSKey) {
		t.Fatalf("load of root in new storage: %v", err)
	}

	oids, _ := s.NewOids(1)
	if oids[0] != 1 {
		t.Fatalf("first new oid %d", oids[0])
	}
	x, err := s.Begin(TxnMeta{User: []byte("/ alice"), Description: []byte("add"), Extension: nil})
	if err != nil {
		t.Fatal(err)
	}
	if x.TID() != t0 {
		t.Fatalf("tid %s", x.TID())
	}
	root, child := []byte("root-v1"), []byte("child-v1")
	if err := x.Store(0, 0, root); err != nil {
		t.Fatal(err)
	}
	if err := x.Store(1, 0, child); err != nil {
		t.Fatal(err)
	}
	fileIs(t, p, []byte("FS30")) // nothing written before vote
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	hl := uint64(4 + 23 + 7 + 3)
	r0 := recBytes(0, t0, 0, 4, root, 0)
	r1 := recBytes(1, t0, 0, 4, child, 0)
	want1 := append([]byte("FS30"), txnBytes(t0, 'c', "/ alice", "add", "", r0, r1)...)
	fileIs(t, p, want1)
	// Readers do not see a voted transaction.
	if _, _, err := s.Load(0); !errors.Is(err, ErrPOSKey) {
		t.Fatalf("voted data visible: %v", err)
	}
	got, err := x.Finish()
	if err != nil || got != t0 {
		t.Fatalf("finish: %s %v", got, err)
	}
	want1[4+16] = ' '
	fileIs(t, p, want1)
	if d, serial, err := s.Load(1); err != nil || !bytes.Equal(d, child) || serial != t0 {
		t.Fatalf("load: %q %s %v", d, serial, err)
	}

	// Second transaction: the clock has not moved, so tid = t0 + 1.
	x, _ = s.Begin(TxnMeta{})
	t1 := x.TID()
	if t1 != t0+1 {
		t.Fatalf("second tid %s, want %s", t1, t0+1)
	}
	err = x.Store(1, 0x1234, []byte("x"))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.Oid != 1 || ce.Committed != t0 || ce.Expected != 0x1234 {
		t.Fatalf("conflict: %v", err)
	}
	if err := x.Store(1, t0, []byte("child-v2")); err != nil {
		t.Fatal(err)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	pos2 := uint64(len(want1))
	r2 := recBytes(1, t1, 4+hl-4+uint64(len(r0)), pos2, []byte("child-v2"), 0)
	want2 := append(append([]byte{}, want1...), txnBytes(t1, 'c', "", "", "", r2)...)
	fileIs(t, p, want2)
	if err := x.Abort(); err != nil {
		t.Fatal(err)
	}
	fileIs(t, p, want1) // abort cut the file back

	// Third: delete oid 1, tid must still be above the aborted one.
	x, _ = s.Begin(TxnMeta{Description: []byte("del")})
	t2 := x.TID()
	if t2 <= t1 {
		t.Fatalf("tid %s not after aborted %s", t2, t1)
	}
	if err := x.DeleteObject(1, t0); err != nil {
		t.Fatal(err)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	r3 := recBytes(1, t2, uint64(4+23+10+len(r0)), pos2, nil, 0)
	want3 := append(append([]byte{}, want1...), txnBytes(t2, ' ', "", "del", "", r3)...)
	fileIs(t, p, want3)
	if _, _, err := s.Load(1); !errors.Is(err, ErrPOSKey) {
		t.Fatalf("load deleted: %v", err)
	}
	if d, start, end, err := s.LoadBefore(1, t2); err != nil || string(d) != "child-v1" || start != t0 || end != t2 {
		t.Fatalf("loadBefore: %q %s %s %v", d, start, end, err)
	}
	if s.Len() != 2 || s.LastTransaction() != t2 {
		t.Fatalf("len %d last %s", s.Len(), s.LastTransaction())
	}

	// A given tid must be after the last one.
	if _, err := s.BeginWithTID(TxnMeta{}, t2, ' '); !errors.Is(err, ErrTransaction) {
		t.Fatalf("old tid accepted: %v", err)
	}
	// A second writer (any process, flock) is refused; a reader is not.
	if _, err := Open(p, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v", err)
	}
	ro, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.LastTransaction() != t2 {
		t.Errorf("reader last tid %s", ro.LastTransaction())
	}
	ro.Close()

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fileIs(t, p, want3)
	pos, idx, err := ReadIndex(p + ".index")
	if err != nil || pos != int64(len(want3)) || idx.Len() != 2 {
		t.Fatalf("saved index: %d %v %v", pos, idx, err)
	}
	// Reopen: the index is used (pos >= 100), new tids go on increasing.
	s2, err := Open(p, Options{Now: fixedClock(t0)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.LastTransaction() != t2 || s2.MaxOid() != 1 {
		t.Fatalf("reopen: last %s max %d", s2.LastTransaction(), s2.MaxOid())
	}
	x, _ = s2.Begin(TxnMeta{})
	if x.TID() != t2+1 {
		t.Errorf("tid after restart %s, want %s", x.TID(), t2+1)
	}
	x.Abort()
	if o, _ := s2.NewOids(1); o[0] != 2 {
		t.Errorf("new oid after restart %d", o[0])
	}
}

// commitN commits n transactions each storing one new object.
func commitN(t *testing.T, s *FileStorage, n int) []tid.TID {
	t.Helper()
	var out []tid.TID
	for i := 0; i < n; i++ {
		oids, _ := s.NewOids(1)
		x, err := s.Begin(TxnMeta{Description: []byte("t" + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Store(oids[0], 0, []byte("data"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		tt, err := x.Finish()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tt)
	}
	return out
}

// TestCrashTail simulates a crash after vote: the 'c' transaction is
// left at the end. A reader stops before it; a writer saves it to .tr0,
// cuts it off, and hands out tids above it.
func TestCrashTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	tids := commitN(t, s, 3)
	good, _ := os.ReadFile(p)
	x, _ := s.Begin(TxnMeta{})
	x.Store(100, 0, []byte("lost"))
	x.Vote()
	crashed, _ := os.ReadFile(p)
	dropped := x.TID()
	x.Abort()
	s.Close()
	os.WriteFile(p, crashed, 0o644)

	ro, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.LastTransaction() != tids[2] || ro.Size() != int64(len(good)) {
		t.Errorf("reader: last %s size %d", ro.LastTransaction(), ro.Size())
	}
	ro.Close()
	fileIs(t, p, crashed)

	w, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fileIs(t, p, good)
	fileIs(t, p+".tr0", crashed[len(good):])
	if w.LastTransaction() != tids[2] {
		t.Errorf("last tid %s, want %s", w.LastTransaction(), tids[2])
	}
	x, _ = w.Begin(TxnMeta{})
	if x.TID() <= dropped {
		t.Errorf("new tid %s not above the dropped %s", x.TID(), dropped)
	}
	x.Abort()
	w.Close()

	// Garbage shorter than a header: cut without a .tr file.
	os.WriteFile(p, append(append([]byte{}, good...), 1, 2, 3), 0o644)
	w, err = Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	fileIs(t, p, good)
	if _, err := os.Stat(p + ".tr1"); !os.IsNotExist(err) {
		t.Errorf(".tr1 made for a short tail")
	}
	// A transaction running past EOF (a torn write): cut to .tr1.
	torn := crashed[:len(crashed)-5]
	os.WriteFile(p, torn, 0o644)
	w, err = Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	fileIs(t, p, good)
	fileIs(t, p+".tr1", torn[len(good):])
}

// TestUndo undoes a change, redoes it, and undoes a creation.
func TestUndo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	commit := func(f func(x *Txn)) tid.TID {
		x, err := s.Begin(TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		f(x)
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		tt, err := x.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	t1 := commit(func(x *Txn) { x.Store(0, 0, []byte("a1")) })
	t2 := commit(func(x *Txn) { x.Store(0, t1, []byte("a2")); x.Store(1, 0, []byte("b1")) })
	pos2, _ := s.index.Get(0)
	t3 := commit(func(x *Txn) {
		oids, err := x.Undo(UndoID(t2))
		if err != nil || len(oids) != 2 {
			t.Fatalf("undo: %v %v", oids, err)
		}
	})
	if d, serial, err := s.Load(0); string(d) != "a1" || serial != t3 || err != nil {
		t.Fatalf("after undo: %q %s %v", d, serial, err)
	}
	if _, _, err := s.Load(1); !errors.Is(err, ErrPOSKey) {
		t.Fatalf("undone creation loads: %v", err)
	}
	// The undo records are backpointers: to a1's record, and 0.
	r := newReader(s.f, p, s.Size(), 0)
	p0, _ := s.index.Get(0)
	h, _ := r.readDataHeader(p0, s.Size())
	if h.DataLen != 0 || h.Back != 4+23+0 || h.Prev != pos2 {
		t.Errorf("undo record %+v", h)
	}
	// Redo (undo the undo): backpointer to a backpointer chain.
	commit(func(x *Txn) {
		if _, err := x.Undo(UndoID(t3)); err != nil {
			t.Fatal(err)
		}
	})
	if d, _, err := s.Load(0); string(d) != "a2" || err != nil {
		t.Fatalf("after redo: %q %v", d, err)
	}
	if d, _, err := s.Load(1); string(d) != "b1" || err != nil {
		t.Fatalf("after redo: %q %v", d, err)
	}
	// Undoing t1 now fails: later transactions changed oid 0.
	x, _ := s.Begin(TxnMeta{})
	if _, err := x.Undo(UndoID(t1)); !errors.Is(err, ErrUndo) {
		t.Errorf("undo of overwritten creation: %v", err)
	}
	if _, err := x.Undo("bad"); !errors.Is(err, ErrUndo) {
		t.Errorf("bad id: %v", err)
	}
	x.Abort()
	log, _ := s.UndoLog(0, -10, nil)
	if len(log) != 4 {
		t.Errorf("undo log has %d entries", len(log))
	}
}

// TestVoteConflicts follows ZEO 5: a conflicting store is reported by
// vote; the client stores resolved data with the right serial and votes
// again.
func TestVoteConflicts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t1 := commitN(t, s, 1)[0]
	x, _ := s.Begin(TxnMeta{})
	if err := x.Store(1, t1-1, []byte("stale")); !errors.Is(err, ErrConflict) {
		t.Fatalf("store: %v", err)
	}
	size := s.Size()
	err = x.Vote()
	var ve *VoteConflictError
	if !errors.As(err, &ve) || len(ve.Conflicts) != 1 || ve.Conflicts[0].Oid != 1 || ve.Conflicts[0].Committed != t1 || string(ve.Conflicts[0].Data) != "stale" {
		t.Fatalf("vote: %v", err)
	}
	if st, _ := os.Stat(p); st.Size() != size {
		t.Fatalf("vote with conflicts wrote to the file")
	}
	if err := x.Store(1, t1, []byte("resolved")); err != nil {
		t.Fatal(err)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Finish(); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := s.Load(1); string(d) != "resolved" {
		t.Fatalf("load %q", d)
	}
}

// TestQuota is ZODB 6.3's quota: a transaction with a record that would
// start past the quota fails at vote with a *QuotaError carrying ZODB's
// message, nothing of it is written, and smaller transactions before it
// were accepted. The group-commit path refuses it at Write the same way.
func TestQuota(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Data.fs")
	const quota = 400
	s, err := Open(p, Options{NoSync: true, Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var failed error
	for i := 0; i < 20 && failed == nil; i++ {
		oids, _ := s.NewOids(1)
		x, err := s.Begin(TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Store(oids[0], 0, []byte("data "+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		before := s.Size()
		if failed = x.Vote(); failed != nil {
			x.Abort()
			if s.Size() != before {
				t.Errorf("a refused transaction changed the size from %d to %d", before, s.Size())
			}
			if before <= quota-100 {
				t.Errorf("refused at size %d, well under the quota %d", before, quota)
			}
			break
		}
		if _, err := x.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	var qe *QuotaError
	if !errors.Is(failed, ErrQuota) || !errors.As(failed, &qe) || failed.Error() != "The storage quota has been exceeded." || qe.At <= quota {
		t.Fatalf("vote past the quota = %v (%+v)", failed, qe)
	}
	g := s.NewGroup()
	if _, err := g.Write(TxnMeta{}, []GroupRecord{{Oid: 100, Data: []byte("x")}}); !errors.Is(err, ErrQuota) {
		t.Errorf("group Write past the quota = %v, want a QuotaError", err)
	}
}
