package zeobench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A counted mixed run against an in-process Data.fs server: every
// operation is done, none fails, both kinds happen.
func TestRunCountMixed(t *testing.T) {
	r, err := Run(context.Background(), Config{Conns: 3, Inflight: 2, Count: 300, LoadRatio: 0.5, Objects: 50,
		DataFS: filepath.Join(t.TempDir(), "Data.fs")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Loads+r.Commits != 300 || r.Loads == 0 || r.Commits == 0 {
		t.Fatalf("loads %d commits %d errors %d (%s)", r.Loads, r.Commits, r.Errors, r.FirstError)
	}
	if !r.InProcess || r.Storage != "filestorage" || r.LoadsPerSec <= 0 || r.CommitP50us <= 0 {
		t.Errorf("result %+v", r)
	}
}

// The command prints a table with a median row and writes JSON.
func TestMainTableAndJSON(t *testing.T) {
	js := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	code := Main([]string{"zeobench", "-mapping", "-c", "2", "-n", "100", "-runs", "3", "-json", js}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "median of the runs above:") || strings.Count(out.String(), "\n") != 6 {
		t.Errorf("table:\n%s", out.String())
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rs []Result
	if err := json.Unmarshal(b, &rs); err != nil || len(rs) != 3 || rs[0].Loads != 100 || rs[0].Conns != 2 {
		t.Fatalf("json %v: %s", err, b)
	}
	if code := Main([]string{"zeobench", "-c", "x"}, &out, &errb); code != 2 {
		t.Errorf("bad -c: exit %d", code)
	}
}

// The suite without a runzeo binary: every in-process figure is there,
// and -report replaces only the marked block.
func TestSuiteReport(t *testing.T) {
	figs, machine, err := Suite(context.Background(), SuiteConfig{Runs: 1, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(figs) != 9 || !strings.Contains(machine, "CPUs") {
		t.Fatalf("%d figures, machine %q", len(figs), machine)
	}
	for _, f := range figs {
		if f.Value == "" || f.Value == "0" || f.Target == "" {
			t.Errorf("figure %+v", f)
		}
	}
	doc := filepath.Join(t.TempDir(), "performance.md")
	os.WriteFile(doc, []byte("# head\n"+ReportBegin+"\nold figures\n"+ReportEnd+"\ntail\n"), 0o644)
	block := FormatReport(figs, machine, 1, time.Unix(0, 0))
	if err := UpdateReport(doc, block); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(doc)
	if want := "# head\n" + ReportBegin + "\n" + block + ReportEnd + "\ntail\n"; string(b) != want {
		t.Errorf("report file:\n%s", b)
	}
	if err := UpdateReport(filepath.Join(t.TempDir(), "none.md"), block); err == nil {
		t.Error("missing file accepted")
	}
}

// The lean pipelined loader: a counted run does every load, none fails.
func TestRunRaw(t *testing.T) {
	r, err := Run(context.Background(), Config{Conns: 2, Inflight: 8, Count: 2000, LoadRatio: 1, Objects: 50, Raw: true, Mapping: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Loads != 2000 || r.LoadP50us <= 0 {
		t.Fatalf("loads %d errors %d (%s), p50 %v", r.Loads, r.Errors, r.FirstError, r.LoadP50us)
	}
	r, err = Run(context.Background(), Config{Conns: 4, Count: 200, LoadRatio: 0, Objects: 10, Raw: true,
		DataFS: filepath.Join(t.TempDir(), "Data.fs")})
	if err != nil || r.Errors != 0 || r.Commits != 200 || r.CommitsPerSync < 1 {
		t.Fatalf("raw commits: %v %+v", err, r)
	}
	if _, err := Run(context.Background(), Config{Raw: true, LoadRatio: 0.5, Mapping: true, Count: 1}); err == nil {
		t.Error("raw mode with commits accepted")
	}
}
