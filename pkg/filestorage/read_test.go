package filestorage

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

type revision struct {
	tid  tid.TID
	sha  *string
	plen int64
}

// revisions lists each oid's records in file order from the manifest.
func revisions(t *testing.T, m *manifest) map[Oid][]revision {
	out := map[Oid][]revision{}
	for _, tr := range m.Transactions {
		seen := map[Oid]int{}
		for _, r := range tr.Records {
			oid := mustOid(t, r.Oid)
			rv := revision{mustTID(t, r.TID), r.DataSHA256, r.Plen}
			if i, ok := seen[oid]; ok { // duplicate in one txn: last wins
				out[oid][i] = rv
				continue
			}
			seen[oid] = len(out[oid])
			out[oid] = append(out[oid], rv)
		}
	}
	return out
}

// TestFixtureLoadBefore checks loadBefore, loadSerial and history for
// every revision of every object in the unpacked fixtures.
func TestFixtureLoadBefore(t *testing.T) {
	for _, name := range []string{"small", "undo", "packed-input", "big"} {
		t.Run(name, func(t *testing.T) {
			m := loadManifest(t, name)
			s, err := Open(filepath.Join("testdata", name+".fs"), Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n := 0
			for oid, revs := range revisions(t, m) {
				if _, _, _, err := s.LoadBefore(oid, revs[0].tid); !errors.Is(err, ErrNoRevisionBefore) {
					t.Errorf("oid %s before first revision: %v", oid.Hex(), err)
				}
				for i, rv := range revs {
					var wantEnd tid.TID
					if i+1 < len(revs) {
						wantEnd = revs[i+1].tid
					}
					data, start, end, err := s.LoadBefore(oid, rv.tid+1)
					if rv.sha == nil {
						if !errors.Is(err, ErrPOSKey) {
							t.Errorf("oid %s rev %d: err %v, want POSKeyError", oid.Hex(), i, err)
						}
					} else if err != nil || sha(data) != *rv.sha || start != rv.tid || end != wantEnd {
						t.Errorf("oid %s rev %d: start %s end %s err %v", oid.Hex(), i, start.Hex(), end.Hex(), err)
					}
					if rv.sha != nil {
						d, err := s.LoadSerial(oid, rv.tid)
						if err != nil || sha(d) != *rv.sha {
							t.Errorf("loadSerial oid %s rev %d: %v", oid.Hex(), i, err)
						}
					}
					n++
				}
				hist, err := s.History(oid, 1000)
				if err != nil || len(hist) != len(revs) {
					t.Fatalf("history oid %s: %d entries, want %d (%v)", oid.Hex(), len(hist), len(revs), err)
				}
				for i, h := range hist {
					rv := revs[len(revs)-1-i]
					if h.TID != rv.tid || h.Size != rv.plen || h.Time != rv.tid.TimeTime() {
						t.Errorf("history oid %s entry %d: %+v", oid.Hex(), i, h)
					}
				}
			}
			if n == 0 {
				t.Fatal("no revisions checked")
			}
		})
	}
}

// TestFixtureUndoLog checks undoLog's walk, slicing and 'p' stop.
func TestFixtureUndoLog(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadManifest(t, name)
			s, err := Open(filepath.Join("testdata", name+".fs"), Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var want []tid.TID
			for i := len(m.Transactions) - 1; i >= 0; i-- {
				tr := m.Transactions[i]
				if tr.Status == "p" {
					break
				}
				want = append(want, mustTID(t, tr.TID))
			}
			got, err := s.UndoLog(0, -1000, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, want %d", len(got), len(want))
			}
			for i, e := range got {
				if e.TID != want[i] || e.ID != UndoID(want[i]) || len(e.ID) != 12 {
					t.Errorf("entry %d: %s %q", i, e.TID.Hex(), e.ID)
				}
			}
			// (first, last) slicing: entries 1..2 (last=-2 means 2 entries).
			if len(want) >= 3 {
				sub, _ := s.UndoLog(1, -2, nil)
				if len(sub) != 2 || sub[0].TID != want[1] || sub[1].TID != want[2] {
					t.Errorf("UndoLog(1,-2) = %v", sub)
				}
				sub, _ = s.UndoLog(1, 3, nil)
				if len(sub) != 2 || sub[0].TID != want[1] {
					t.Errorf("UndoLog(1,3) = %v", sub)
				}
			}
			// A filter counts only the entries it accepts.
			odd, _ := s.UndoLog(0, -1000, func(e *UndoEntry) bool { return e.TID&1 == 1 })
			for _, e := range odd {
				if e.TID&1 != 1 {
					t.Errorf("filter let %s through", e.TID.Hex())
				}
			}
		})
	}
}

// TestNextOid walks the oids like record_iternext.
func TestNextOid(t *testing.T) {
	m := loadManifest(t, "big")
	s, err := Open(filepath.Join("testdata", "big.fs"), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	var next Oid
	for {
		oid, serial, data, ok, err := s.NextOid(next)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		w := m.Current[oid.Hex()]
		if serial != mustTID(t, w.TID) || (!w.Deleted && sha(data) != w.DataSHA256) {
			t.Errorf("oid %s differs", oid.Hex())
		}
		n++
		next = oid + 1
	}
	if n != m.Len {
		t.Errorf("walked %d oids, want %d", n, m.Len)
	}
}

// TestIterateRange checks start/stop (inclusive) for every pair of
// transactions, which exercises both the forward and the backward seek.
func TestIterateRange(t *testing.T) {
	m := loadManifest(t, "big")
	s, err := Open(filepath.Join("testdata", "big.fs"), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var tids []tid.TID
	for _, tr := range m.Transactions {
		tids = append(tids, mustTID(t, tr.TID))
	}
	for i := 0; i < len(tids); i += 3 {
		for j := i; j < len(tids); j += 5 {
			it := s.Iterate(tids[i], tids[j])
			k := i
			for {
				tr, err := it.Next()
				if err != nil {
					break
				}
				if k > j || tr.TID != tids[k] {
					t.Fatalf("range %d..%d: got %s at %d", i, j, tr.TID.Hex(), k)
				}
				k++
			}
			if k != j+1 {
				t.Fatalf("range %d..%d: stopped at %d", i, j, k)
			}
		}
		// A start between two tids begins at the later one.
		it := s.Iterate(tids[i]+1, 0)
		if tr, err := it.Next(); i+1 < len(tids) && (err != nil || tr.TID != tids[i+1]) {
			t.Fatalf("start after %d: %v", i, err)
		}
	}
	inv, err := s.LastInvalidations(3)
	if err != nil || len(inv) != 3 || inv[2].TID != tids[len(tids)-1] {
		t.Fatalf("LastInvalidations: %v %v", inv, err)
	}
	last := m.Transactions[len(m.Transactions)-1]
	if len(inv[2].Oids) != len(last.Records) {
		t.Errorf("last txn oids %d, want %d", len(inv[2].Oids), len(last.Records))
	}
}
