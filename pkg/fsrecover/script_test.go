package fsrecover

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/scriptdata"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fsrecover": func() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) },
		"fstest":    fstestMain,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: scriptdata.Copy("small.fs", "undo.fs"),
	})
}

// fstestMain lets scripts check the output with the real checker.
func fstestMain() {
	if err := filestorage.Check(os.Args[len(os.Args)-1], filestorage.CheckOptions{Pointers: true}); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}
