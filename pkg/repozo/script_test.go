package repozo

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/scriptdata"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"repozo": func() { os.Exit(Main("repozo", os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar: the command line, messages
// and exit statuses of ZODB 6.3's repozo.py, with small.fs (a Data.fs
// written by Python's FileStorage) in the work directory.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: scriptdata.Copy("small.fs"),
	})
}
