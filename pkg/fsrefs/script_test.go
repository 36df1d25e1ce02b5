package fsrefs

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/scriptdata"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fsrefs": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: scriptdata.Copy("small.fs", "undo.fs"),
	})
}
