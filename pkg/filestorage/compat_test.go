package filestorage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Reopening an empty Data.fs whose .index was written at close: Python's
// _sane rejects an index with pos < 100, logs "Ignoring index for PATH"
// and rescans; so do we. The lock file is created 0666 &^ umask, as
// zc.lockfile's open(path, 'a+') does (interop items 3 and 18).
func TestEmptyIndexIgnoredAndLockMode(t *testing.T) {
	umask := currentUmask(t)
	path := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if m, want := fi.Mode().Perm(), os.FileMode(0o666)&^umask; m != want {
		t.Errorf("lock file mode %o, want %o", m, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".index"); err != nil {
		t.Fatalf("no index written at close: %v", err)
	}
	var logs []string
	s, err = Open(path, Options{NoSync: true, Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := strings.Join(logs, "\n"); got != "Ignoring index for "+path {
		t.Errorf("logs %q, want the Ignoring index warning", got)
	}
}

// currentUmask reads the umask without changing it (it is process-wide).
func currentUmask(t *testing.T) os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err == nil {
				return os.FileMode(n)
			}
		}
	}
	t.Skip("no Umask line in /proc/self/status")
	return 0
}

// An undo with several objects changed later fails with every per-object
// UndoError, in the order of the undone transaction's records, as
// FileStorage._txn_undo_write's MultipleUndoErrors (interop item 23).
func TestUndoCollectsAllFailures(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "Data.fs"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	serial := map[Oid]tid.TID{}
	commit := func(oids []Oid, v string) tid.TID {
		t.Helper()
		x, err := s.Begin(TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range oids {
			if err := x.Store(o, serial[o], []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		n, err := x.Finish()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range oids {
			serial[o] = n
		}
		return n
	}
	commit([]Oid{0, 1, 2}, "a")
	t1 := commit([]Oid{2, 0, 1}, "b") // records in this order
	commit([]Oid{0, 2}, "c")          // oid 1 stays undoable

	x, err := s.Begin(TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Abort()
	_, err = x.Undo(UndoID(t1))
	var m *MultipleUndoError
	if !errors.As(err, &m) || !errors.Is(err, ErrUndo) {
		t.Fatalf("undo error %v (%T)", err, err)
	}
	var got []string
	for _, e := range m.Errs {
		got = append(got, fmt.Sprintf("%d:%s", e.Oid, e.Msg))
	}
	want := "2:Some data were modified by a later transaction,0:Some data were modified by a later transaction"
	if strings.Join(got, ",") != want {
		t.Errorf("failures %v, want %s", got, want)
	}
	var ue *UndoError
	if !errors.As(err, &ue) || ue.Oid != 2 {
		t.Errorf("errors.As finds %v, want the first failure", ue)
	}
}
