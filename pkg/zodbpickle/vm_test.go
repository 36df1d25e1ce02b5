package zodbpickle

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A root record as real ZODB 6.3 writes it (docs/design/data-fs.md):
// the reference's class comes from the first pickle's memo (BINGET 0).
func specRoot(t testing.TB) []byte {
	cls := "80 03 63" + hex.EncodeToString([]byte("persistent.mapping\nPersistentMapping\n")) + "71 00 2e"
	state := "80 03 7d 71 01 58 04000000" + hex.EncodeToString([]byte("data")) + "71 02 7d 71 03 58 05000000" +
		hex.EncodeToString([]byte("thing")) + "71 04 43 08 0000000000000001 71 05 68 00 86 71 06 51 73 73 2e"
	return unhex(t, cls+state)
}

func TestSpecExample(t *testing.T) {
	rec := specRoot(t)
	refs, err := References(rec)
	if err != nil || !slices.Equal(refs, []uint64{1}) {
		t.Fatalf("refs %v %v", refs, err)
	}
	if m, n := ClassName(rec); m != "persistent.mapping" || n != "PersistentMapping" {
		t.Errorf("class %q %q", m, n)
	}
	// Without the shared memo the BINGET in the second pickle fails:
	// decoding the second pickle alone must be an error, not a panic.
	if _, err := References(rec[44:]); err == nil {
		t.Errorf("second pickle alone decoded without error")
	}
}

func TestForms(t *testing.T) {
	oid := "0000000000000007"
	cases := []struct {
		name string
		hex  string
		want []Reference
	}{
		// bare oid (class with __getnewargs__)
		{"bare", "80 03 4e 2e 80 03 43 08" + oid + "51 2e", []Reference{{Oid: 7, Kind: Strong}}},
		// weakref ['w', (oid,)]
		{"weak", "80 03 4e 2e 80 03 5d 28 58 01000000 77 43 08" + oid + "85 65 51 2e", []Reference{{Oid: 7, Kind: Weak}}},
		// cross-database ['n', ('other', oid)]
		{"xdb", "80 03 4e 2e 80 03 5d 28 58 01000000 6e 58 05000000" + hex.EncodeToString([]byte("other")) + "43 08" + oid + "86 65 51 2e",
			[]Reference{{Oid: 7, Kind: CrossDB, Database: "other"}}},
		// py2 protocol 1: oid as SHORT_BINSTRING, MARK ... TUPLE
		{"py2", "63" + hex.EncodeToString([]byte("m\nC\n")) + "71 01 2e 28 55 08" + oid + "68 01 74 51 2e", []Reference{{Oid: 7, Kind: Strong}}},
	}
	for _, c := range cases {
		refs, err := AllReferences(unhex(t, c.hex))
		if err != nil || !slices.Equal(refs, c.want) {
			t.Errorf("%s: %+v %v", c.name, refs, err)
		}
	}
}

func TestDamaged(t *testing.T) {
	rec := specRoot(t)
	for i := 0; i < len(rec); i++ {
		_, err := References(rec[:i])
		if err == nil {
			t.Errorf("truncated at %d: no error", i)
		} else if !errors.Is(err, ErrPickle) {
			t.Errorf("truncated at %d: %v", i, err)
		}
	}
}

func FuzzReferences(f *testing.F) {
	f.Add(specRoot(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, err := AllReferences(data)
		if err != nil && !errors.Is(err, ErrPickle) {
			t.Fatalf("error does not wrap ErrPickle: %v", err)
		}
		_ = refs
		ClassName(data)
	})
}
