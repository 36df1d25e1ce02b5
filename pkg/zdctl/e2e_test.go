package zdctl_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/control"
)

var (
	zdrunOnce sync.Once
	zdrunDir  string
	zdrunErr  string
)

// zdrunBinary builds cmd/zdrun once per test run, so the end-to-end
// scripts drive the real manager. It returns the directory holding it, or
// skips the test when cmd/zdrun cannot be built.
func zdrunBinary(t testing.TB) string {
	zdrunOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zdctl-e2e-bin")
		if err != nil {
			zdrunErr = err.Error()
			return
		}
		cmd := exec.Command("go", "build", "-o", dir, "github.com/zdkit/zdkit/cmd/zdrun")
		if out, err := cmd.CombinedOutput(); err != nil {
			zdrunErr = string(out)
			os.RemoveAll(dir)
			return
		}
		zdrunDir = dir
	})
	if zdrunDir == "" {
		t.Skipf("cmd/zdrun not buildable: %s", zdrunErr)
	}
	return zdrunDir
}

// stopManagers kills whatever zdrun (and program) still answers on a
// socket under dir: a failed script must not leave processes behind.
func stopManagers(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSocket == 0 {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, ok := control.GetStatus(ctx, p)
		if !ok {
			return nil
		}
		if st.Application > 0 {
			syscall.Kill(-st.Application, syscall.SIGKILL)
			syscall.Kill(st.Application, syscall.SIGKILL)
		}
		if st.Manager > 0 {
			syscall.Kill(st.Manager, syscall.SIGKILL)
		}
		return nil
	})
}

func TestE2E(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:  "testdata/e2e",
		Cmds: scriptCmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir)
			wd := env.WorkDir
			env.Defer(func() { stopManagers(wd) })
			return nil
		},
	})
}
