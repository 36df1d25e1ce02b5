package filestorage

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// refusedOnOpenOrRead opens path read-only and reads everything the
// storage can be asked for (every oid's current data, its whole history,
// each revision by serial, the undo log, an iteration of every record); it
// returns the first CorruptError any of that gives.
func refusedOnOpenOrRead(t *testing.T, path string) error {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true, Logf: func(string, ...any) {}})
	if err != nil {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrFormat) {
			return err
		}
		t.Fatalf("open %s: %v", path, err)
	}
	defer s.Close()
	var oids []Oid
	s.index.Range(func(oid Oid, _ int64) bool { oids = append(oids, oid); return true })
	for _, oid := range oids {
		if _, _, err := s.Load(oid); errors.Is(err, ErrCorrupt) {
			return err
		}
		hist, err := s.History(oid, 1<<20)
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		for _, h := range hist {
			if _, err := s.LoadSerial(oid, h.TID); errors.Is(err, ErrCorrupt) {
				return err
			}
			if _, _, _, err := s.LoadBefore(oid, h.TID+1); errors.Is(err, ErrCorrupt) {
				return err
			}
		}
	}
	if _, err := s.UndoLog(0, 1<<20, nil); errors.Is(err, ErrCorrupt) {
		return err
	}
	it := s.Iterate(0, 0)
	for {
		_, err := it.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		if err != nil {
			break
		}
	}
	return nil
}

// extraCheck tells the messages of the checks Check makes beyond
// fstest.py's.
func extraCheck(msg string) bool {
	for _, s := range []string{" is not before the record", " is not a record of oid ", "non-zero version length"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// TestCheckCatchesWhatOpenRefuses damages copies of the fixtures (bit
// flips, 8 random bytes, a byte set to 0xff) and asserts that whenever
// Open or a read refuses the copy with a CorruptError, Check fails too.
// ZODB 6.3 fstest.py passes, for instance, a flipped bit in a data
// record's prev pointer, which Open refuses.
func TestCheckCatchesWhatOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewSource(14))
	refused, byExtra := 0, 0
	for _, fx := range []string{"small.fs", "undo.fs", "packed.fs", "packed-input.fs"} {
		good, err := os.ReadFile(filepath.Join("testdata", fx))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 150; i++ {
			b := append([]byte(nil), good...)
			switch rnd.Intn(3) {
			case 0:
				b[4+rnd.Intn(len(b)-4)] ^= 1 << rnd.Intn(8)
			case 1:
				p := 4 + rnd.Intn(len(b)-12)
				rnd.Read(b[p : p+8])
			default:
				b[4+rnd.Intn(len(b)-4)] = 0xff
			}
			p := filepath.Join(dir, fx+"-"+strconv.Itoa(i))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			openErr := refusedOnOpenOrRead(t, p)
			checkErr := Check(p, CheckOptions{})
			if openErr == nil {
				continue
			}
			refused++
			var ce *CheckError
			if !errors.As(checkErr, &ce) {
				t.Errorf("%s: Open/read refuses (%v) but Check says %v", p, openErr, checkErr)
				continue
			}
			if extraCheck(ce.Msg) {
				byExtra++
			}
		}
	}
	// The damage must reach the new checks, or the test proves nothing.
	if refused < 100 || byExtra < 10 {
		t.Errorf("only %d refused copies, %d found by the checks fstest.py lacks", refused, byExtra)
	}
	t.Logf("%d damaged copies refused by Open or a read, %d of them found only by the added checks", refused, byExtra)
}

// fixtureRecords lists the data records of a fixture: position, prev,
// plen and the position of its transaction.
type fixtureRecord struct{ pos, prev, plen, tpos int64 }

func fixtureRecords(t *testing.T, path string) []fixtureRecord {
	t.Helper()
	it, f, err := OpenIterator(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixtureRecord
	for {
		tr, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tr.Records {
			out = append(out, fixtureRecord{r.Pos, r.Prev, r.DataLen, tr.Pos})
		}
	}
	return out
}

// TestCheckDamagedHeaders: hand-made damage to one data-record header
// that fstest.py misses and Open refuses; Check names it. When fstest.py
// also finds damage further on, Check reports that instead, as fstest.py.
func TestCheckDamagedHeaders(t *testing.T) {
	src := filepath.Join("testdata", "undo.fs")
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	recs := fixtureRecords(t, src)
	var withPrev, withBack, withData *fixtureRecord
	for i := range recs {
		r := &recs[i]
		if r.prev != 0 {
			withPrev = r // the last one: records of other oids precede it
		}
		switch {
		case r.plen == 0 && withBack == nil:
			if binary.BigEndian.Uint64(good[r.pos+DataHeaderLen:]) != 0 {
				withBack = r
			}
		case r.plen > 40 && withData == nil:
			withData = r
		}
	}
	if withPrev == nil || withBack == nil || withData == nil {
		t.Fatalf("undo.fs lacks a record kind: prev %v back %v data %v", withPrev, withBack, withData)
	}
	// A record before withPrev of another oid.
	otherAt := int64(-1)
	for _, r := range recs {
		if r.pos < withPrev.pos && string(good[r.pos:r.pos+8]) != string(good[withPrev.pos:withPrev.pos+8]) {
			otherAt = r.pos
			break
		}
	}
	if otherAt < 0 {
		t.Fatal("undo.fs has no record of another oid before the first one with a prev")
	}
	put := func(b []byte, at int64, v uint64) { binary.BigEndian.PutUint64(b[at:], v) }
	cases := []struct {
		name   string
		damage func(b []byte)
		want   string
	}{
		{"prev flipped forward", func(b []byte) { b[withPrev.pos+16] ^= 0x40 },
			"data record at " + strconv.FormatInt(withPrev.pos, 10) + ": prev " + strconv.FormatUint(uint64(withPrev.prev)^0x40<<56, 10) + " is not before the record"},
		{"prev at another oid", func(b []byte) { put(b, withPrev.pos+16, uint64(otherAt)) },
			"data record at " + strconv.FormatInt(withPrev.pos, 10) + ": prev " + strconv.FormatInt(otherAt, 10) + " is not a record of oid 0x"},
		{"backpointer forward", func(b []byte) { put(b, withBack.pos+DataHeaderLen, uint64(len(b)-8)) },
			"data record at " + strconv.FormatInt(withBack.pos, 10) + ": backpointer " + strconv.Itoa(len(good)-8) + " is not before the record"},
		{"backpointer at another record", func(b []byte) { put(b, withBack.pos+DataHeaderLen, 4+TxnHeaderLen) },
			"data record at " + strconv.FormatInt(withBack.pos, 10) + ": backpointer "},
		{"version record", func(b []byte) {
			// vlen 4 and a pickle 20 bytes shorter: the record keeps its
			// length, so fstest.py walks on.
			binary.BigEndian.PutUint16(b[withData.pos+32:], 4)
			put(b, withData.pos+34, uint64(withData.plen-20))
		}, "data record at " + strconv.FormatInt(withData.pos, 10) + ": non-zero version length 4 (versions are not supported)"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			c.damage(b)
			p := filepath.Join(dir, "d.fs")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := refusedOnOpenOrRead(t, p); err == nil {
				t.Errorf("Open and the reads accept the damage (the case tests nothing)")
			}
			err := Check(p, CheckOptions{})
			var ce *CheckError
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Msg, p+" "+c.want) {
				t.Errorf("Check = %v, want %q", err, p+" "+c.want)
			}
			// Damage fstest.py finds later in the file wins: the last
			// transaction's redundant length.
			put(b, int64(len(b)-8), 1)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			err = Check(p, CheckOptions{})
			if !errors.As(err, &ce) || !strings.HasPrefix(ce.Msg, p+" has inconsistent transaction length for undone transaction at ") {
				t.Errorf("with later damage, Check = %v, want fstest.py's inconsistent transaction length", err)
			}
		})
	}
}
