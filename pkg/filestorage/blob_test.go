package filestorage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

var blobRecord = []byte("\x80\x03cZODB.blob\nBlob\nq\x00.\x80\x03N.")

func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Data.fs")
	bd := filepath.Join(dir, "blobs")
	s, err := Open(p, Options{NoSync: true, BlobDir: bd})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fileIs(t, filepath.Join(bd, ".layout"), []byte("bushy"))
	if !IsBlobRecord(blobRecord) || IsBlobRecord(pmPickle(nil)) {
		t.Fatal("IsBlobRecord")
	}
	upload := func(content string) string {
		f, err := os.CreateTemp(s.TemporaryDirectory(), "up")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Close()
		return f.Name()
	}
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
	t1 := commit(func(x *Txn) {
		x.Store(0, 0, pmPickle(map[string]any{"b": Oid(1)}))
		if err := x.StoreBlob(1, 0, blobRecord, upload("one")); err != nil {
			t.Fatal(err)
		}
	})
	name := filepath.Join(bd, "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x00", "0x01", t1.Repr()+".blob")
	if got, err := s.LoadBlob(1, t1); err != nil || got != name {
		t.Fatalf("LoadBlob %q %v, want %q", got, err, name)
	}
	fileIs(t, name, []byte("one"))
	if st, _ := os.Stat(name); st.Mode().Perm()&0o222 != 0 {
		t.Errorf("committed blob is writable: %v", st.Mode())
	}
	t2 := commit(func(x *Txn) { x.StoreBlob(1, t1, blobRecord, upload("two")) })
	// Abort removes the placed file.
	x, _ := s.Begin(TxnMeta{})
	x.StoreBlob(1, t2, blobRecord, upload("three"))
	aborted, _ := s.BlobFilename(1, x.TID())
	x.Abort()
	if _, err := os.Stat(aborted); !os.IsNotExist(err) {
		t.Errorf("aborted blob left at %s", aborted)
	}
	// Undo t2: the blob of t1 is copied under the undo's tid.
	t3 := commit(func(x *Txn) {
		if _, err := x.Undo(UndoID(t2)); err != nil {
			t.Fatal(err)
		}
	})
	f3, err := s.LoadBlob(1, t3)
	if err != nil {
		t.Fatal(err)
	}
	fileIs(t, f3, []byte("one"))
	if _, err := s.LoadBlob(1, 0x1234); !errors.Is(err, ErrPOSKey) {
		t.Errorf("missing blob: %v", err)
	}
	// Pack after t3: revisions t1 and t2 are no longer needed; their
	// files move to blobs.old.
	if err := s.Pack(t3, true); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []tid.TID{t1, t2} {
		f, _ := s.BlobFilename(1, tt)
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("packed-away blob %s still there", f)
		}
		rel, _ := filepath.Rel(bd, f)
		if _, err := os.Stat(filepath.Join(bd+".old", rel)); err != nil {
			t.Errorf("not moved to blobs.old: %v", err)
		}
	}
	fileIs(t, f3, []byte("one"))
	rel3, _ := filepath.Rel(bd, f3)
	fileIs(t, filepath.Join(bd+".old", rel3), []byte("one")) // survivors linked into blobs.old
	fileIs(t, filepath.Join(bd+".old", ".layout"), []byte("bushy"))
	if _, err := os.Stat(filepath.Join(bd, ".removed")); !os.IsNotExist(err) {
		t.Errorf(".removed left behind")
	}

	// The file, with undo, pack and blobs in its history, passes fstest
	// with pointer checks, and its index round-trips: the index saved on
	// close equals the one a full rescan builds, and reads agree.
	commit(func(x *Txn) { x.StoreBlob(1, t3, blobRecord, upload("four")) })
	if err := Check(p, CheckOptions{Pointers: true}); err != nil {
		t.Fatal(err)
	}
	type state struct {
		data   string
		serial tid.TID
	}
	before := map[Oid]state{}
	for o := Oid(0); o <= 1; o++ {
		d, serial, err := s.Load(o)
		if err != nil {
			t.Fatal(err)
		}
		before[o] = state{string(d), serial}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(p + ".index")
	os.Remove(p + ".index")
	s2, err := Open(p, Options{NoSync: true, BlobDir: bd})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	fileIs(t, p+".index", saved)
	for o, w := range before {
		d, serial, err := s2.Load(o)
		if err != nil || string(d) != w.data || serial != w.serial {
			t.Errorf("oid %d after reopen: %v", o, err)
		}
	}
	if f, err := s2.LoadBlob(1, before[1].serial); err != nil {
		t.Error(err)
	} else {
		fileIs(t, f, []byte("four"))
	}
}

func TestBlobLayouts(t *testing.T) {
	bd := filepath.Join(t.TempDir(), "blobs")
	os.MkdirAll(bd, 0o700)
	os.WriteFile(filepath.Join(bd, "something"), nil, 0o644)
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true, BlobDir: bd})
	if err != nil {
		t.Fatal(err)
	}
	fileIs(t, filepath.Join(bd, ".layout"), []byte("lawn"))
	if f, _ := s.BlobFilename(0x0100, 0x03); f != filepath.Join(bd, "0x0100", "0x03.blob") {
		t.Errorf("lawn name %s", f)
	}
	s.Close()
	if _, err := Open(p, Options{NoSync: true, BlobDir: bd, BlobLayout: "bushy"}); !errors.Is(err, ErrBlob) {
		t.Errorf("layout mismatch: %v", err)
	}
}

// TestRefsReport: undo.fs's final state has d's creation undone while
// nothing refers to it; a root pointing at a missing and at an undone
// object is reported in fsrefs' format.
func TestRefsReport(t *testing.T) {
	s, err := Open(filepath.Join("testdata", "undo.fs"), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if n, err := s.RefsReport(&out); err != nil || n != 0 || out.Len() != 0 {
		t.Errorf("undo.fs: %d %v %q", n, err, out.String())
	}
	s.Close()

	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err = Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x, _ := s.Begin(TxnMeta{})
	x.Store(1, 0, pmPickle(nil))
	x.Vote()
	t1, _ := x.Finish()
	x, _ = s.Begin(TxnMeta{})
	x.Undo(UndoID(t1))
	x.Store(0, 0, pmPickle(map[string]any{"a": Oid(1), "b": Oid(9)}))
	x.Vote()
	t2, _ := x.Finish()
	out.Reset()
	n, err := s.RefsReport(&out)
	want := "oid 0x0 persistent.mapping.PersistentMapping\n" +
		"last updated: " + t2.String() + ", tid=" + fmt.Sprintf("%#x", uint64(t2)) + "\n" +
		"refers to invalid objects:\n" +
		"\toid 0x01 object creation was undone: '<unknown>'\n" +
		"\toid 0x09 missing: '<unknown>'\n\n"
	if err != nil || n != 1 || out.String() != want {
		t.Errorf("report %d %v:\n%s\nwant:\n%s", n, err, out.String(), want)
	}
}
