package fstail

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/scriptdata"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fstail": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar with small.fs, a Data.fs
// written by Python's ZODB 6.3, in the work directory; the expected
// outputs are the real fstail.py's.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: scriptdata.Copy("small.fs"),
	})
}
