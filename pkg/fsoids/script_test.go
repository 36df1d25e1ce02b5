package fsoids

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fsoids": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar with small.fs, a Data.fs
// written by Python's ZODB 6.3, in the work directory; the expected
// outputs are the real fsoids.py's.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// truncate FILE N COPY: COPY holds the first N bytes of FILE.
			"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: truncate file n copy")
				}
				n, err := strconv.Atoi(args[1])
				ts.Check(err)
				b, err := os.ReadFile(ts.MkAbs(args[0]))
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[2]), b[:n], 0o644))
			},
		},
		Setup: func(env *testscript.Env) error {
			b, err := os.ReadFile(filepath.Join("testdata", "small.fs"))
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(env.WorkDir, "small.fs"), b, 0o644)
		},
	})
}
