package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/fstools"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"fsrecover": func() { os.Exit(fstools.Fsrecover(os.Args[1:], os.Stdout, os.Stderr)) },
		"fstest":    fstestMain,
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Binary data files cannot live in txtar archives.
			for _, n := range []string{"small.fs", "undo.fs"} {
				b, err := os.ReadFile(filepath.Join("testdata", n))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(env.WorkDir, n), b, 0o644); err != nil {
					return err
				}
			}
			return nil
		},
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
