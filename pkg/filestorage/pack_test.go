package filestorage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// TestPackFixture packs packed-input.fs at the manifest's pack time and
// compares the result with packed.fs, which Python's pack produced from
// the same file: data file and index must be byte-identical.
func TestPackFixture(t *testing.T) {
	m := loadManifest(t, "packed-input")
	p := copyFixture(t, "packed-input", true)
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Pack(mustTID(t, m.PackTID), true); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join("testdata", "packed.fs"))
	fileIs(t, p, want)
	wantIdx, _ := os.ReadFile(filepath.Join("testdata", "packed.fs.index"))
	fileIs(t, p+".index", wantIdx)
	orig, _ := os.ReadFile(filepath.Join("testdata", "packed-input.fs"))
	fileIs(t, p+".old", orig)
	checkCurrent(t, s, loadManifest(t, "packed"))

	// Packing again to the same time is redundant: nothing changes.
	if err := s.Pack(mustTID(t, m.PackTID), true); err != nil {
		t.Fatal(err)
	}
	fileIs(t, p, want)

	// The storage keeps working after the swap.
	commitN(t, s, 2)
	s.Close()
	s2, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Size() != int64(len(want))+2*(23+2+42+5+8) {
		t.Errorf("size after pack+commits %d", s2.Size())
	}
}

// TestPackNoGC keeps every current revision; the garbage objects stay.
func TestPackNoGC(t *testing.T) {
	m := loadManifest(t, "packed-input")
	p := copyFixture(t, "packed-input", true)
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := s.Len()
	if err := s.Pack(mustTID(t, m.PackTID), false); err != nil {
		t.Fatal(err)
	}
	if s.Len() != before {
		t.Errorf("len %d after no-gc pack, want %d", s.Len(), before)
	}
	// Everything current still loads with the same data.
	for o, w := range m.Current {
		d, serial, err := s.Load(mustOid(t, o))
		if w.Deleted {
			if !errors.Is(err, ErrPOSKey) {
				t.Errorf("oid %s: %v", o, err)
			}
			continue
		}
		if err != nil || sha(d) != w.DataSHA256 || serial.Hex() != w.TID {
			t.Errorf("oid %s after pack: %v", o, err)
		}
	}
	got, _ := os.ReadFile(p)
	orig, _ := os.ReadFile(filepath.Join("testdata", "packed-input.fs"))
	if len(got) >= len(orig) || bytes.Equal(got, orig) {
		t.Errorf("no-gc pack freed nothing (%d >= %d)", len(got), len(orig))
	}
}

// TestPackUndoFile packs undo.fs (backpointers, undone creations, chains)
// at every transaction's time; the current state must not change, and a
// reopen that rebuilds the index must agree with the saved one.
func TestPackUndoFile(t *testing.T) {
	m := loadManifest(t, "undo")
	for i, tr := range m.Transactions {
		p := copyFixture(t, "undo", true)
		s, err := Open(p, Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Pack(mustTID(t, tr.TID), true); err != nil {
			t.Fatalf("pack at txn %d: %v", i, err)
		}
		for o, w := range m.Current {
			d, serial, err := s.Load(mustOid(t, o))
			if w.Deleted {
				continue // may be collected, or still deleted
			}
			if err != nil || sha(d) != w.DataSHA256 || serial.Hex() != w.TID {
				t.Errorf("pack at txn %d: oid %s: %v", i, o, err)
			}
		}
		n := s.Len()
		s.Close()
		os.Remove(p + ".index")
		s, err = Open(p, Options{NoSync: true, ReadOnly: true})
		if err != nil {
			t.Fatalf("reopen after pack at txn %d: %v", i, err)
		}
		if s.Len() != n {
			t.Errorf("pack at txn %d: rebuilt len %d, saved %d", i, s.Len(), n)
		}
		it := s.Iterate(0, 0)
		for {
			_, err := it.Next()
			if err != nil {
				if err.Error() != "EOF" {
					t.Errorf("pack at txn %d: iterate: %v", i, err)
				}
				break
			}
		}
		s.Close()
	}
}

// TestPackDiscardOld is pack-keep-old false (ZODB 6.3 FileStorage.pack
// with pack_keep_old=False): the packed file is the same, but Data.fs.old
// is removed, and packed-away blob files are deleted instead of kept in
// <blob-dir>.old.
func TestPackDiscardOld(t *testing.T) {
	m := loadManifest(t, "packed-input")
	p := copyFixture(t, "packed-input", true)
	s, err := Open(p, Options{NoSync: true, PackDiscardOld: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Pack(mustTID(t, m.PackTID), true); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join("testdata", "packed.fs"))
	fileIs(t, p, want)
	if _, err := os.Stat(p + ".old"); !os.IsNotExist(err) {
		t.Errorf("Data.fs.old after a pack with pack-keep-old false: %v", err)
	}

	dir := t.TempDir()
	bp, bd := filepath.Join(dir, "Data.fs"), filepath.Join(dir, "blobs")
	bs, err := Open(bp, Options{NoSync: true, BlobDir: bd, PackDiscardOld: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var serial tid.TID
	var tids []tid.TID
	for _, content := range []string{"one", "two"} {
		f, err := os.CreateTemp(bs.TemporaryDirectory(), "up")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Close()
		x, err := bs.Begin(TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		if serial == 0 {
			x.Store(0, 0, pmPickle(map[string]any{"b": Oid(1)}))
		}
		if err := x.StoreBlob(1, serial, blobRecord, f.Name()); err != nil {
			t.Fatal(err)
		}
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		if serial, err = x.Finish(); err != nil {
			t.Fatal(err)
		}
		tids = append(tids, serial)
	}
	if err := bs.Pack(tids[1], true); err != nil {
		t.Fatal(err)
	}
	gone, _ := bs.BlobFilename(1, tids[0])
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("packed-away blob %s still there: %v", gone, err)
	}
	kept, _ := bs.LoadBlob(1, tids[1])
	fileIs(t, kept, []byte("two"))
	for _, old := range []string{bd + ".old", bp + ".old"} {
		if _, err := os.Stat(old); !os.IsNotExist(err) {
			t.Errorf("%s exists after a pack with pack-keep-old false: %v", old, err)
		}
	}
}
