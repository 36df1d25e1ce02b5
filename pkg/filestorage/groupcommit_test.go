package filestorage

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// snapshotFile snapshots Data.fs as a crash at this instant would leave it
// (the page cache holds everything written; what fsync adds is ordering,
// which TestGroupCrashStates checks through the status bytes).
func snapshotFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// openGroup opens a new Data.fs in a temporary directory, closed at the
// end of the test, and its group-commit pipeline.
func openGroup(t *testing.T) (dir, path string, s *FileStorage, g *Group) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "Data.fs")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, path, s, s.NewGroup()
}

func TestGroupCommitVisibility(t *testing.T) {
	_, path, s, g := openGroup(t)
	t1, err := g.Commit(TxnMeta{User: []byte("u")}, []GroupRecord{{Oid: 1, Data: []byte("one")}, {Oid: 2, Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	// The next transaction is based on t1 before t1 is visible.
	if cur, ok, err := g.CurrentSerial(1); err != nil || !ok || cur != t1 {
		t.Fatalf("CurrentSerial(1) = %v %v %v, want %v", cur, ok, err, t1)
	}
	t2, err := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 1, Data: []byte("one'")}})
	if err != nil || t2 <= t1 {
		t.Fatalf("t2 %v %v", t2, err)
	}
	if _, _, err := s.Load(1); !errors.Is(err, ErrPOSKey) {
		t.Errorf("a pending transaction is visible: %v", err)
	}
	if s.LastTransaction() != 0 || g.Pending() != 2 {
		t.Errorf("last %v pending %d", s.LastTransaction(), g.Pending())
	}
	top, err := g.Sync()
	if err != nil || top != t2 {
		t.Fatalf("Sync = %v %v", top, err)
	}
	g.Publish(t1)
	if d, serial, err := s.Load(1); err != nil || string(d) != "one" || serial != t1 || s.LastTransaction() != t1 {
		t.Errorf("after publishing t1: %q %v %v last %v", d, serial, err, s.LastTransaction())
	}
	g.Publish(t2)
	if d, serial, err := s.Load(1); err != nil || string(d) != "one'" || serial != t2 {
		t.Errorf("after publishing t2: %q %v %v", d, serial, err)
	}
	if d, start, end, err := s.LoadBefore(1, t2); err != nil || string(d) != "one" || start != t1 || end != t2 {
		t.Errorf("LoadBefore: %q %v %v %v", d, start, end, err)
	}
	if g.Pending() != 0 {
		t.Errorf("pending %d", g.Pending())
	}
	if groups, txns := g.Stats(); groups != 1 || txns != 2 {
		t.Errorf("Stats = %d groups, %d transactions; want 1, 2", groups, txns)
	}
	g.Drain() // returns at once
	// The ordinary commit path continues after the group's transactions.
	x, err := s.Begin(TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Store(2, t1, []byte("two'")); err != nil {
		t.Fatal(err)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	t3, err := x.Finish()
	if err != nil || t3 <= t2 {
		t.Fatal(t3, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Check(path, CheckOptions{}); err != nil {
		t.Fatalf("fstest: %v", err)
	}
	s2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.LastTransaction() != t3 {
		t.Errorf("reopened last %v want %v", s2.LastTransaction(), t3)
	}
	if d, _, err := s2.Load(2); err != nil || string(d) != "two'" {
		t.Errorf("reopened oid 2: %q %v", d, err)
	}
}

// What a crash leaves at each step: before Sync, the pending
// transactions are 'c' and the open cuts them off; after Sync they are
// all there, published or not.
func TestGroupCrashStates(t *testing.T) {
	dir, path, s, g := openGroup(t)
	t1, _ := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 1, Data: []byte("a")}})
	if _, err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	t2, _ := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 2, Data: []byte("b")}})
	t3, _ := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 1, Data: []byte("c")}, {Oid: 3, Data: nil}})
	reopen := func(name string) (*FileStorage, tid.TID) {
		p := filepath.Join(dir, name)
		snapshotFile(t, path, p)
		r, err := Open(p, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { r.Close() })
		return r, r.LastTransaction()
	}
	// t1 synced (not published), t2 and t3 not synced.
	if _, last := reopen("crash1.fs"); last != t1 {
		t.Errorf("crash before the second group's sync: last %v, want %v", last, t1)
	}
	if _, err := os.Stat(filepath.Join(dir, "crash1.fs.tr0")); err != nil {
		t.Errorf("the cut-off tail was not saved: %v", err)
	}
	if _, err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	r, last := reopen("crash2.fs")
	if last != t3 {
		t.Errorf("crash after sync: last %v, want %v", last, t3)
	}
	if d, serial, err := r.Load(1); err != nil || string(d) != "c" || serial != t3 {
		t.Errorf("oid 1 after reopen: %q %v %v", d, serial, err)
	}
	if _, _, err := r.Load(3); !errors.Is(err, ErrPOSKey) {
		t.Errorf("deleted oid 3: %v", err)
	}
	if err := Check(filepath.Join(dir, "crash2.fs"), CheckOptions{}); err != nil {
		t.Errorf("fstest: %v", err)
	}
	_ = t2
	// Close flushes what is pending into the index it saves.
	t4, _ := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 4, Data: []byte("d")}})
	if err := g.Flush(); err != nil {
		t.Fatal(err)
	}
	if s.LastTransaction() != t4 {
		t.Errorf("after Flush: last %v want %v", s.LastTransaction(), t4)
	}
}

// Write at vote, Finish or Abort later: a finished transaction written
// after an unresolved one waits for it; an aborted one leaves the file
// and the transactions written after it move down over it, so that the
// file reads as if it had never been written (Python and Go open, the
// iterator, fstest), and a crash before the sync keeps nothing unsynced.
func TestGroupWriteAbortMovesFollowers(t *testing.T) {
	dir, path, s, g := openGroup(t)
	t0, err := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 1, Data: []byte("one")}, {Oid: 2, Data: []byte("two")}})
	if err != nil {
		t.Fatal(err)
	}
	// a: written (voted) on oid 1, never finished.
	a, err := g.Write(TxnMeta{Description: []byte("aborted")}, []GroupRecord{{Oid: 1, Data: []byte("one, aborted")}})
	if err != nil {
		t.Fatal(err)
	}
	if cur, _, _ := g.CurrentSerial(1); cur != a {
		t.Fatalf("CurrentSerial(1) during a = %v, want %v", cur, a)
	}
	if err := g.SyncData(); err != nil {
		t.Fatal(err)
	}
	// b and c: written after a, on oid 2 twice (c's record points back
	// into b) and a new oid 3; both finished before a is resolved.
	b, _ := g.Write(TxnMeta{}, []GroupRecord{{Oid: 2, Data: []byte("two'")}})
	if err := g.Finish(b); err != nil {
		t.Fatal(err)
	}
	c, _ := g.Commit(TxnMeta{}, []GroupRecord{{Oid: 2, Data: []byte("two''")}, {Oid: 3, Data: []byte("three")}})
	if top, err := g.Sync(); err != nil || top != t0 {
		t.Fatalf("Sync with a unresolved = %v %v; want %v (b and c held back)", top, err, t0)
	}
	snapshotFile(t, path, filepath.Join(dir, "held.fs"))
	if err := g.Abort(a); err != nil {
		t.Fatal(err)
	}
	if err := g.Finish(a); err == nil {
		t.Error("Finish after Abort succeeded")
	}
	if cur, _, _ := g.CurrentSerial(1); cur != t0 {
		t.Errorf("CurrentSerial(1) after abort = %v, want %v", cur, t0)
	}
	if cur, _, _ := g.CurrentSerial(2); cur != c {
		t.Errorf("CurrentSerial(2) = %v, want %v", cur, c)
	}
	if top, err := g.Sync(); err != nil || top != c {
		t.Fatalf("Sync after abort = %v %v, want %v", top, err, c)
	}
	g.Publish(c)
	check := func(r *FileStorage, what string) {
		t.Helper()
		for oid, want := range map[Oid]string{1: "one", 2: "two''", 3: "three"} {
			if d, _, err := r.Load(oid); err != nil || string(d) != want {
				t.Errorf("%s: oid %d = %q %v, want %q", what, oid, d, err, want)
			}
		}
		if d, start, _, err := r.LoadBefore(2, c); err != nil || string(d) != "two'" || start != b {
			t.Errorf("%s: oid 2 before c = %q %v %v", what, d, start, err)
		}
		var tids []tid.TID
		it := r.Iterate(0, 0)
		for {
			tr, err := it.Next()
			if err != nil || tr == nil {
				break
			}
			tids = append(tids, tr.TID)
		}
		if len(tids) != 3 || tids[0] != t0 || tids[1] != b || tids[2] != c {
			t.Errorf("%s: transactions %v, want %v %v %v", what, tids, t0, b, c)
		}
	}
	check(s, "published")
	snapshotFile(t, path, filepath.Join(dir, "after.fs"))
	if err := Check(filepath.Join(dir, "after.fs"), CheckOptions{}); err != nil {
		t.Errorf("fstest after the abort: %v", err)
	}
	r, err := Open(filepath.Join(dir, "after.fs"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check(r, "reopened")
	t.Run("python", func(t *testing.T) {
		py, env := pythonZODB(t)
		script := `import sys
from ZODB.FileStorage import FileStorage
from ZODB.utils import p64
fs = FileStorage(sys.argv[1], read_only=True)
print(len(list(fs.iterator())), [fs.load(p64(o))[0].decode() for o in (1, 2, 3)])
fs.close()
`
		cmd := exec.Command(py, "-c", script, filepath.Join(dir, "after.fs"))
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if want := "3 ['one', \"two''\", 'three']\n"; err != nil || string(out) != want {
			t.Errorf("Python reads %q %v, want %q", out, err, want)
		}
	})
	// A crash while b and c were held back keeps only t0.
	h, err := Open(filepath.Join(dir, "held.fs"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.LastTransaction() != t0 {
		t.Errorf("crash while held back: last %v, want %v", h.LastTransaction(), t0)
	}
	// Aborting the last written transaction truncates the file.
	size := s.Size()
	d, _ := g.Write(TxnMeta{}, []GroupRecord{{Oid: 4, Data: []byte("four")}})
	if err := g.Abort(d); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != size || g.Pending() != 0 {
		t.Errorf("after aborting the last: file %v %v, want %d bytes; pending %d", fi.Size(), err, size, g.Pending())
	}
}
