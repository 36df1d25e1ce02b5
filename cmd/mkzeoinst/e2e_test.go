package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zdkit/zdkit/pkg/control"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  string
	haveRun   bool // cmd/runzeo built as well
)

// zdkitBinaries builds zdctl and zdrun (and runzeo when it exists) once,
// so the lifecycle scripts run a generated instance with the real
// programs.  The test is skipped while they cannot be built.
func zdkitBinaries(t *testing.T) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mkzeoinst-e2e-bin")
		if err != nil {
			buildErr = err.Error()
			return
		}
		for _, name := range []string{"zdctl", "zdrun"} {
			out, err := exec.Command("go", "build", "-o", dir, "github.com/zdkit/zdkit/cmd/"+name).CombinedOutput()
			if err != nil {
				buildErr = name + ": " + string(out)
				os.RemoveAll(dir)
				return
			}
		}
		// runzeo goes to a directory of its own, put on PATH only by
		// the script that wants the real one.
		real := filepath.Join(dir, "real") + "/"
		if exec.Command("go", "build", "-o", real, "github.com/zdkit/zdkit/cmd/runzeo").Run() == nil &&
			exec.Command("go", "build", "-o", real, "github.com/zdkit/zdkit/cmd/zeoup").Run() == nil {
			haveRun = true
		}
		buildDir = dir
	})
	if buildDir == "" {
		t.Skipf("zdctl/zdrun not buildable yet: %s", buildErr)
	}
	return buildDir
}

// stopInstance kills the zdrun and program still answering on the
// instance's socket, so a failing script leaves no process behind.
func stopInstance(sock string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, ok := control.GetStatus(ctx, sock)
	if !ok {
		return
	}
	if st.Application > 0 {
		syscall.Kill(-st.Application, syscall.SIGKILL)
		syscall.Kill(st.Application, syscall.SIGKILL)
	}
	if st.Manager > 0 {
		syscall.Kill(st.Manager, syscall.SIGKILL)
	}
}

// fakeRunzeo stands in for runzeo until cmd/runzeo exists: it logs like
// runzeo, reopens on SIGUSR2 and exits 0 on SIGTERM (ZEO 6.0 runzeo.ZEOServer's signal handlers).
const fakeRunzeo = `#!/bin/sh
log="$INSTANCE_HOME/log/zeo.log"
echo "fake runzeo $* INSTANCE_HOME=$INSTANCE_HOME" >> "$log"
trap 'echo "Log files reopened successfully" >> "$log"' USR2
trap 'echo "terminated by SIGTERM" >> "$log"; exit 0' TERM
while :; do sleep 0.2 & wait $!; done
`

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("builds zdctl and zdrun")
	}
	bin := zdkitBinaries(t)
	t.Cleanup(func() { os.RemoveAll(bin) })
	testscript.Run(t, testscript.Params{
		Dir: "testdata/e2e",
		Condition: func(cond string) (bool, error) {
			if cond == "runzeo" {
				// Opt-in until runzeo serves a FileStorage: it builds
				// while still a work in progress, and a half-made
				// program must not fail mkzeoinst's tests.
				return haveRun && os.Getenv("ZDKIT_E2E_RUNZEO") != "", nil
			}
			return false, nil
		},
		Setup: func(env *testscript.Env) error {
			fake := filepath.Join(env.WorkDir, "fakebin")
			if err := os.Mkdir(fake, 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(fake, "runzeo"), []byte(fakeRunzeo), 0o755); err != nil {
				return err
			}
			// The real programs first; the fake runzeo only when the
			// real one is missing.
			env.Setenv("PATH", bin+string(os.PathListSeparator)+fake+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("ZDBIN", bin)
			env.Setenv("RUNZEOBIN", filepath.Join(bin, "real"))
			// A port free right now on loopback, for the real runzeo.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			env.Setenv("FREEPORT", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
			ln.Close()
			wd := env.WorkDir
			env.Defer(func() { stopInstance(filepath.Join(wd, "zeo", "etc", "zeo.zdsock")) })
			return nil
		},
	})
}
