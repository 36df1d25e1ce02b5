package filestorage

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

func TestRecover(t *testing.T) {
	m := loadManifest(t, "undo")
	orig, _ := os.ReadFile(filepath.Join("testdata", "undo.fs"))
	dir := t.TempDir()
	out := filepath.Join(dir, "out.fs")

	// An intact file is copied whole, backpointers kept.
	in := filepath.Join(dir, "in.fs")
	os.WriteFile(in, orig, 0o644)
	var log strings.Builder
	if err := Recover(in, out, RecoverOptions{NoSync: true}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "\n0 bytes removed during recovery\n") {
		t.Errorf("log: %q", log.String())
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(orig) {
		t.Errorf("recovering an intact file changed it")
	}
	if err := Recover(in, out, RecoverOptions{NoSync: true}, io.Discard); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("existing output: %v", err)
	}

	// Damage T6's first record (bad tloc): T6 is lost, the rest kept.
	t6 := m.Transactions[6]
	bad := append([]byte{}, orig...)
	bad[t6.Records[0].Pos+24+7] ^= 0x40
	os.WriteFile(in, bad, 0o644)
	log.Reset()
	if err := Recover(in, out, RecoverOptions{Force: true, NoSync: true}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), " bytes removed during recovery\n") {
		t.Errorf("log: %q", log.String())
	}
	if err := Check(out, CheckOptions{Pointers: true}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(out, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	have := map[tid.TID]bool{}
	it := s.Iterate(0, 0)
	for {
		tr, err := it.Next()
		if err != nil {
			break
		}
		have[tr.TID] = true
	}
	// As in fsrecover (whose FileIterator stops a transaction at a
	// record pointing at another transaction), T6 is kept with the
	// records before the bad one (none here), and the rest follows.
	for i, tr := range m.Transactions {
		if !have[mustTID(t, tr.TID)] {
			t.Errorf("txn %d missing", i)
		}
	}
	it = s.Iterate(mustTID(t, t6.TID), mustTID(t, t6.TID))
	if tr, err := it.Next(); err != nil || len(tr.Records) != 0 {
		t.Errorf("T6 after recovery: %v", err)
	}
	// A damaged transaction header makes the scan resynchronise.
	bad = append([]byte{}, orig...)
	bad[m.Transactions[2].Pos+16] = 'x'
	os.WriteFile(in, bad, 0o644)
	log.Reset()
	if err := Recover(in, out, RecoverOptions{Force: true, NoSync: true, Verbose: 2}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "error reading txn header: invalid status, 'x', at 615\nlooking for valid txn header at 774\n") {
		t.Errorf("log: %q", log.String())
	}
	if err := Check(out, CheckOptions{Pointers: true}); err != nil {
		t.Fatal(err)
	}
	// A 'c' tail ends the copy and is saved next to the output.
	bad = append([]byte{}, orig...)
	last := m.Transactions[len(m.Transactions)-1]
	bad[last.Pos+16] = 'c'
	os.WriteFile(in, bad, 0o644)
	if err := Recover(in, out, RecoverOptions{Force: true, NoSync: true}, io.Discard); err != nil {
		t.Fatal(err)
	}
	fileIs(t, out+".tr0", bad[last.Pos:])
	// Garbage after the last transaction: skipped by the scan.
	os.WriteFile(in, append(append([]byte{}, orig...), []byte("garbage.\x00\x00")...), 0o644)
	log.Reset()
	if err := Recover(in, out, RecoverOptions{Force: true, NoSync: true}, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "10 bytes removed during recovery") {
		t.Errorf("log: %q", log.String())
	}
}
