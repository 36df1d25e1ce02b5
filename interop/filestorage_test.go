package interop_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// pyWrite makes a Data.fs with Python's FileStorage (fs_write.py) and
// returns the root summary line and the metadata (last tid, len).
func pyWrite(t *testing.T, path string) (summary string, last string, n int) {
	t.Helper()
	r := py(t, filepath.Dir(path), 60*time.Second, script(t, "fs_write.py"), path)
	mustOK(t, "fs_write.py", r)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("fs_write.py printed %q, want 2 lines", r.stdout)
	}
	var meta struct {
		Last string `json:"last"`
		Len  int    `json:"len"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &meta); err != nil {
		t.Fatalf("fs_write.py meta %q: %v", lines[1], err)
	}
	return lines[0], meta.Last, meta.Len
}

// pyRead opens path with Python's FileStorage (read-only) and returns the
// root summary; needIndex makes it fail unless Python accepts the .index.
func pyRead(t *testing.T, path string, needIndex bool) string {
	t.Helper()
	args := []string{script(t, "fs_read.py"), path}
	if needIndex {
		args = append(args, "--need-index")
	}
	r := py(t, filepath.Dir(path), 60*time.Second, args...)
	mustOK(t, "fs_read.py", r)
	return strings.TrimSpace(r.stdout)
}

// sameTools runs our fstest (plain, -v, -vv) and fsdump and Python's on
// path and requires the same stdout, stderr and exit status.
func sameTools(t *testing.T, path string) {
	t.Helper()
	dir := filepath.Dir(path)
	for _, v := range [][]string{nil, {"-v"}, {"-vv"}} {
		ours := run(t, dir, nil, 60*time.Second, bin(t, "fstest"), append(v, path)...)
		theirs := py(t, dir, 60*time.Second, append(append([]string{"-m", "ZODB.scripts.fstest"}, v...), path)...)
		if ours != theirs {
			t.Errorf("fstest %v %s differs\nzdkit:  %+v\npython: %+v", v, filepath.Base(path), ours, theirs)
		}
	}
	ours := run(t, dir, nil, 60*time.Second, bin(t, "fsdump"), path)
	theirs := py(t, dir, 60*time.Second, "-m", "ZODB.FileStorage.fsdump", path)
	if ours != theirs {
		t.Errorf("fsdump %s differs\nzdkit:  %+v\npython: %+v", filepath.Base(path), ours, theirs)
	}
}

// A Data.fs written by Python (notes, users, extension, a BTree, a delete
// and an undo) must read the same through our tools and pkg/filestorage.
func TestPythonDataFSReadByZdkit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	_, last, n := pyWrite(t, path)
	sameTools(t, path)

	if _, err := os.Stat(path + ".index"); err != nil {
		t.Fatalf("Python wrote no index: %v", err)
	}
	pos, idx, err := filestorage.ReadIndex(path + ".index")
	if err != nil {
		t.Fatalf("ReadIndex of Python's index: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if pos != st.Size() {
		t.Errorf("index pos %d, file size %d", pos, st.Size())
	}
	if idx == nil {
		t.Fatal("ReadIndex returned a nil index")
	}

	s, err := filestorage.Open(path, filestorage.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open(Python's Data.fs): %v", err)
	}
	defer s.Close()
	if got := s.LastTransaction().Hex(); got != last {
		t.Errorf("LastTransaction %s, Python says %s", got, last)
	}
	if got := s.Len(); got != n {
		t.Errorf("Len %d, Python says %d", got, n)
	}
	if _, _, err := s.Load(0); err != nil {
		t.Errorf("Load(root): %v", err)
	}
}

// A Data.fs our package wrote (Python's file plus new revisions stored
// through pkg/filestorage, then Close saving the index) must open in
// Python with the index accepted, pass fstest.py and load the same data.
func TestZdkitFileStorageWritesPythonReads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	want, _, _ := pyWrite(t, path)

	s, err := filestorage.Open(path, filestorage.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	// Store every object's current state again as a new revision: the
	// data is valid ZODB pickles and Python must load it unchanged.
	var oids []filestorage.Oid
	for oid := filestorage.Oid(0); ; {
		o, _, _, ok, err := s.NextOid(oid)
		if err != nil {
			t.Fatalf("NextOid: %v", err)
		}
		if !ok {
			break
		}
		oids = append(oids, o)
		oid = o + 1
	}
	if len(oids) < 5 {
		t.Fatalf("only %d objects in Python's file", len(oids))
	}
	txn, err := s.Begin(filestorage.TxnMeta{User: []byte("zdkit"), Description: []byte("rewrite all")})
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	for _, oid := range oids {
		data, serial, err := s.Load(oid)
		if err != nil {
			t.Fatalf("Load(%d): %v", oid, err)
		}
		if err := txn.Store(oid, serial, data); err != nil {
			t.Fatalf("Store(%d): %v", oid, err)
		}
	}
	if err := txn.Vote(); err != nil {
		t.Fatalf("Vote: %v", err)
	}
	if _, err := txn.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	if got := pyRead(t, path, true); got != want {
		t.Errorf("Python reads\n%s\nwant\n%s", got, want)
	}
	r := py(t, dir, 60*time.Second, "-m", "ZODB.scripts.fstest", path)
	mustOK(t, "fstest.py on our file", r)
	sameTools(t, path)
}
