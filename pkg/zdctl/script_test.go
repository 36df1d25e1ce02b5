package zdctl_test

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/zdctl"
)

func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, commands())
}

// cleanupM removes the zdrun binary built for the end-to-end tests.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if zdrunDir != "" {
		os.RemoveAll(zdrunDir)
	}
	return code
}

func zdctlMain() {
	os.Exit(zdctl.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/script",
		Cmds: scriptCmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			return nil
		},
	})
}
