package filestorage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

type manifest struct {
	File      string `json:"file"`
	Size      int64  `json:"size"`
	Magic     string `json:"magic"`
	IndexFile struct {
		Pos     int64            `json:"pos"`
		Entries map[string]int64 `json:"entries"`
	} `json:"index_file"`
	Transactions []struct {
		TID            string `json:"tid"`
		TIDTime        string `json:"tid_time"`
		Pos            int64  `json:"pos"`
		Tlen           int64  `json:"tlen"`
		Status         string `json:"status"`
		UserHex        string `json:"user_hex"`
		DescriptionHex string `json:"description_hex"`
		ExtensionHex   string `json:"extension_hex"`
		Records        []struct {
			Oid        string  `json:"oid"`
			TID        string  `json:"tid"`
			Pos        int64   `json:"pos"`
			Prev       int64   `json:"prev"`
			Tloc       int64   `json:"tloc"`
			Plen       int64   `json:"plen"`
			Back       int64   `json:"back"`
			DataLen    *int64  `json:"data_len"`
			DataSHA256 *string `json:"data_sha256"`
			DataTxn    *string `json:"data_txn"`
		} `json:"records"`
	} `json:"transactions"`
	Current map[string]struct {
		TID        string `json:"tid"`
		Pos        int64  `json:"pos"`
		DataLen    int64  `json:"data_len"`
		DataSHA256 string `json:"data_sha256"`
		Deleted    bool   `json:"deleted"`
	} `json:"current"`
	LastTID  string `json:"last_tid"`
	Len      int    `json:"len"`
	MaxOid   string `json:"max_oid"`
	FilePos  int64  `json:"file_pos"`
	PackTime string `json:"pack_time"`
	PackTID  string `json:"pack_tid"`
}

var fixtureNames = []string{"small", "undo", "packed-input", "packed", "big"}

func loadManifest(t testing.TB, name string) *manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{}
	if err := json.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustTID(t testing.TB, s string) tid.TID {
	t.Helper()
	v, err := tid.ParseHex(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustOid(t testing.TB, s string) Oid {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return Oid(v)
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// copyFixture copies a fixture (and its index when withIndex) to a temp dir.
func copyFixture(t testing.TB, name string, withIndex bool) string {
	t.Helper()
	dir := t.TempDir()
	dst := filepath.Join(dir, "Data.fs")
	b, err := os.ReadFile(filepath.Join("testdata", name+".fs"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if withIndex {
		b, err := os.ReadFile(filepath.Join("testdata", name+".fs.index"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+".index", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestFixtureIterator compares every transaction and record the iterator
// yields with the manifest written by Python's FileIterator.
func TestFixtureIterator(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadManifest(t, name)
			s, err := Open(filepath.Join("testdata", name+".fs"), Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Magic() != m.Magic {
				t.Errorf("magic %q, want %q", s.Magic(), m.Magic)
			}
			it := s.Iterate(0, 0)
			i := 0
			for {
				tr, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if i >= len(m.Transactions) {
					t.Fatalf("more transactions than the manifest's %d", len(m.Transactions))
				}
				want := m.Transactions[i]
				i++
				if tr.TID != mustTID(t, want.TID) || tr.Pos != want.Pos || tr.Len != want.Tlen || string(tr.Status) != want.Status {
					t.Errorf("txn %d: got tid %s pos %d tlen %d status %q, want %s %d %d %q", i, tr.TID.Hex(), tr.Pos, tr.Len, tr.Status, want.TID, want.Pos, want.Tlen, want.Status)
				}
				if tr.TID.String() != want.TIDTime {
					t.Errorf("txn %d: time %q, want %q", i, tr.TID.String(), want.TIDTime)
				}
				if hex.EncodeToString(tr.User) != want.UserHex || hex.EncodeToString(tr.Description) != want.DescriptionHex || hex.EncodeToString(tr.Extension) != want.ExtensionHex {
					t.Errorf("txn %d: user/description/extension differ", i)
				}
				if len(tr.Records) != len(want.Records) {
					t.Fatalf("txn %d: %d records, want %d", i, len(tr.Records), len(want.Records))
				}
				for j, r := range tr.Records {
					w := want.Records[j]
					if r.Oid != mustOid(t, w.Oid) || r.TID != mustTID(t, w.TID) || r.Pos != w.Pos || r.Prev != w.Prev || r.TxnPos != w.Tloc || r.DataLen != w.Plen || r.Back != w.Back {
						t.Errorf("txn %d rec %d: %+v, want %+v", i, j, r.DataHeader, w)
					}
					if w.DataSHA256 == nil {
						if r.Data != nil {
							t.Errorf("txn %d rec %d: data %d bytes, want none", i, j, len(r.Data))
						}
					} else if sha(r.Data) != *w.DataSHA256 || int64(len(r.Data)) != *w.DataLen {
						t.Errorf("txn %d rec %d: data hash/len differ", i, j)
					}
					var wantDT tid.TID
					if w.DataTxn != nil {
						wantDT = mustTID(t, *w.DataTxn)
					}
					if r.DataTID != wantDT {
						t.Errorf("txn %d rec %d: data_txn %s, want %s", i, j, r.DataTID.Hex(), wantDT.Hex())
					}
				}
			}
			if i != len(m.Transactions) {
				t.Errorf("%d transactions, want %d", i, len(m.Transactions))
			}
		})
	}
}

// checkCurrent compares the storage's state with the manifest's.
func checkCurrent(t *testing.T, s *FileStorage, m *manifest) {
	t.Helper()
	if s.Len() != m.Len {
		t.Errorf("len %d, want %d", s.Len(), m.Len)
	}
	if s.MaxOid() != mustOid(t, m.MaxOid) {
		t.Errorf("max oid %s, want %s", s.MaxOid().Hex(), m.MaxOid)
	}
	if s.LastTransaction() != mustTID(t, m.LastTID) {
		t.Errorf("last tid %s, want %s", s.LastTransaction().Hex(), m.LastTID)
	}
	if s.Size() != m.FilePos {
		t.Errorf("size %d, want %d", s.Size(), m.FilePos)
	}
	if len(m.Current) != m.Len {
		t.Fatalf("manifest: %d current entries, len %d", len(m.Current), m.Len)
	}
	for o, w := range m.Current {
		oid := mustOid(t, o)
		data, serial, err := s.Load(oid)
		if w.Deleted {
			var ke *KeyError
			if !errors.As(err, &ke) || !ke.Deleted {
				t.Errorf("oid %s: err %v, want deleted KeyError", o, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("oid %s: %v", o, err)
			continue
		}
		if serial != mustTID(t, w.TID) || sha(data) != w.DataSHA256 || int64(len(data)) != w.DataLen {
			t.Errorf("oid %s: serial %s len %d, want %s %d", o, serial.Hex(), len(data), w.TID, w.DataLen)
		}
		if p, _ := s.index.Get(oid); p != w.Pos {
			t.Errorf("oid %s: index pos %d, want %d", o, p, w.Pos)
		}
	}
}

// TestFixtureCurrent opens every fixture three ways (read-only with its
// index, writable with its index, writable without one) and checks the
// current state against the manifest.
func TestFixtureCurrent(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadManifest(t, name)
			for _, mode := range []string{"ro-index", "rw-index", "rw-noindex"} {
				p := copyFixture(t, name, mode != "rw-noindex")
				s, err := Open(p, Options{ReadOnly: mode == "ro-index", NoSync: true})
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				checkCurrent(t, s, m)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				got, _ := os.ReadFile(p)
				orig, _ := os.ReadFile(filepath.Join("testdata", name+".fs"))
				if !bytes.Equal(got, orig) {
					t.Errorf("%s: open/close changed the data file", mode)
				}
			}
		})
	}
}

// TestFixtureIndex loads each Python-written .index and checks it against
// the manifest, then checks that the index we build by scanning saves to
// exactly the same bytes.
func TestFixtureIndex(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m := loadManifest(t, name)
			ipath := filepath.Join("testdata", name+".fs.index")
			pos, idx, err := ReadIndex(ipath)
			if err != nil {
				t.Fatal(err)
			}
			if pos != m.IndexFile.Pos || idx.Len() != len(m.IndexFile.Entries) {
				t.Fatalf("pos %d len %d, want %d %d", pos, idx.Len(), m.IndexFile.Pos, len(m.IndexFile.Entries))
			}
			for o, p := range m.IndexFile.Entries {
				if got, ok := idx.Get(mustOid(t, o)); !ok || got != p {
					t.Errorf("oid %s: %d %v, want %d", o, got, ok, p)
				}
			}
			// Rebuild by scanning (writable open without an index saves
			// one at once, as Python does).
			p := copyFixture(t, name, false)
			s, err := Open(p, Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(p + ".index")
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(ipath)
			if !bytes.Equal(got, want) {
				t.Errorf("rebuilt index differs from Python's:\n got %x\nwant %x", got[:min(len(got), 80)], want[:min(len(want), 80)])
			}
			s.Close()
			got2, _ := os.ReadFile(p + ".index")
			if !bytes.Equal(got2, want) {
				t.Errorf("index saved on close differs from Python's")
			}
		})
	}
}
