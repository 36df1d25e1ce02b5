package fsstats

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fsstats": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			b, err := os.ReadFile(filepath.Join("testdata", "small.dump"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(env.WorkDir, "small.dump"), b, 0o644)
		},
	})
}

// TestPythonOutput compares the report with ZODB 6.3 fsstats.py's on
// the fsdump output of each fixture: byte for byte, and where Python
// stops with its TypeError, up to that point and then with the
// completed report (see testdata/README.md).
func TestPythonOutput(t *testing.T) {
	for _, name := range []string{"small", "undo", "packed", "packed-input", "big"} {
		t.Run(name, func(t *testing.T) {
			dump, err := os.ReadFile(filepath.Join("testdata", name+".dump"))
			if err != nil {
				t.Fatal(err)
			}
			python, err := os.ReadFile(filepath.Join("testdata", name+".fsstats"))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Report(dump, &out); err != nil {
				t.Fatal(err)
			}
			want := python
			if completed, err := os.ReadFile(filepath.Join("testdata", name+".fsstats-completed")); err == nil {
				if !bytes.HasPrefix(out.Bytes(), python) {
					t.Errorf("output does not start with what fsstats.py printed before its TypeError")
				}
				want = completed
			}
			if got := out.String(); got != string(want) {
				t.Errorf("report differs from fsstats.py's\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func TestEmptyDump(t *testing.T) {
	var out bytes.Buffer
	err := Report([]byte("not a dump\n"), &out)
	if !errors.Is(err, ErrEmpty) {
		t.Errorf("Report of no transactions: %v, want ErrEmpty", err)
	}
	// fsstats.py prints this much before its IndexError.
	if want := "Summary: 0 txns, 0 objects, 0 revisions\n\nTransaction size (bytes)\nTotal 0 "; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestHugeSizeIsAnError(t *testing.T) {
	dump := "Trans #00000 tid=0000000000000001 size=999999999999999 time=x offset=4\n" +
		"  data #00000 oid=0000000000000000 size=99999999999999999999999 class=a.B\n"
	err := Report([]byte(dump), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "line 2: size=99999999999999999999999: too large") {
		t.Errorf("Report: %v, want the line named", err)
	}
	dump = "Trans #00000 tid=0000000000000001 size=999999999999999 time=x offset=4\n"
	err = Report([]byte(dump), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "too large for a histogram") {
		t.Errorf("Report: %v, want too large for a histogram", err)
	}
}

func TestPythonLineEnds(t *testing.T) {
	dump, err := os.ReadFile(filepath.Join("testdata", "small.dump"))
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	Report(dump, &a)
	Report(bytes.ReplaceAll(dump, []byte("\n"), []byte("\r")), &b)
	if a.String() != b.String() {
		t.Error("a dump with \\r line ends reads differently (Python's universal newlines split on \\r)")
	}
}

func FuzzReport(f *testing.F) {
	for _, name := range []string{"small", "undo", "packed"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".dump"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Trans tid=1 size=5\n  data oid=1 size=3 class=x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := Report(data, &out)
		if err == nil && !strings.HasPrefix(out.String(), "Summary: ") {
			t.Errorf("report without its summary line: %q", out.String())
		}
	})
}
