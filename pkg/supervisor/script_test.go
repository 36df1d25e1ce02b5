package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zdkit/zdkit/pkg/control"
)

// asZdrunEnv makes the test binary act as zdrun (for the Go tests that
// run the real command; the re-executed daemon inherits it).
const asZdrunEnv = "ZDKIT_TEST_AS_ZDRUN"

func TestMain(m *testing.M) {
	if os.Getenv(asZdrunEnv) == "1" {
		os.Exit(Main(os.Args))
	}
	testscript.Main(m, map[string]func(){
		"zdrun": func() { os.Exit(Main(os.Args)) },
	})
}

// TestScripts runs the zdrun command-line scenarios in testdata/script.
// Every script ends with its zdrun gone: the custom commands below stop a
// manager left running when the script ends (see cleanup in Setup).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("SH", "/bin/sh")
			work := env.WorkDir
			// Scripts that check a socket directory's contents put it in sock/.
			env.Defer(func() { stopAll(work); stopAll(filepath.Join(work, "sock")) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"zdcall":     cmdZdcall,
			"zdstatus":   cmdZdstatus,
			"signal":     cmdSignal,
			"waitgone":   cmdWaitgone,
			"waitfile":   cmdWaitfile,
			"waitexists": cmdWaitexists,
			"alive":      cmdAlive,
			"waitdead":   cmdWaitdead,
			"expectexit": cmdExpectexit,
			"stalesock":  cmdStalesock,
		},
	})
}

// stopAll stops every manager whose socket is in dir (a script that failed
// half-way must not leave processes behind).
func stopAll(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		// A program whose manager was killed: its state file names it.
		if strings.HasSuffix(e.Name(), ".pid") {
			if st, err := readState(filepath.Join(dir, e.Name())); err == nil {
				if start, _, ok := procStart(st.pid); ok && start == st.start {
					syscall.Kill(-st.pgid, syscall.SIGKILL)
				}
			}
			continue
		}
		if e.Type()&os.ModeSocket == 0 {
			continue
		}
		sock := filepath.Join(dir, e.Name())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, ok := control.GetStatus(ctx, sock)
		cancel()
		if !ok {
			continue
		}
		if st.Application > 0 {
			syscall.Kill(-st.Application, syscall.SIGKILL)
		}
		syscall.Kill(st.Manager, syscall.SIGKILL)
		os.Remove(sock)
	}
}

// zdcall SOCK COMMAND... : send one command, print the reply.
func cmdZdcall(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: zdcall sock command...")
	}
	reply, err := control.Call(context.Background(), ts.MkAbs(args[0]), strings.Join(args[1:], " "))
	if (err != nil) != neg {
		ts.Fatalf("zdcall: %v", err)
	}
	fmt.Fprint(ts.Stdout(), reply)
}

// zdstatus [-nowait] SOCK : set $APP and $MGR from the status reply,
// waiting (up to 5 s, unless -nowait) for the program to be running.
func cmdZdstatus(ts *testscript.TestScript, neg bool, args []string) {
	wait := true
	if len(args) > 1 && args[0] == "-nowait" {
		wait, args = false, args[1:]
	}
	st, ok := control.GetStatus(context.Background(), ts.MkAbs(args[0]))
	for deadline := time.Now().Add(5 * time.Second); wait && ok && !neg && st.Application == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		st, ok = control.GetStatus(context.Background(), ts.MkAbs(args[0]))
	}
	if ok == neg {
		ts.Fatalf("zdstatus: manager up = %v", ok)
	}
	ts.Setenv("APP", strconv.Itoa(st.Application))
	ts.Setenv("MGR", strconv.Itoa(st.Manager))
}

// signal SIG PID
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	sig := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT,
		"HUP": syscall.SIGHUP, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2}[args[0]]
	pid, err := strconv.Atoi(args[1])
	if sig == 0 || err != nil || pid <= 0 {
		ts.Fatalf("signal %q %q: bad arguments", args[0], args[1])
	}
	ts.Check(syscall.Kill(pid, sig))
}

// waitgone PATH [SECONDS] : wait until PATH no longer exists.
func cmdWaitgone(ts *testscript.TestScript, neg bool, args []string) {
	waitFor(ts, args, func(p string) bool { _, err := os.Stat(p); return errors.Is(err, os.ErrNotExist) })
}

// waitfile PATH [SECONDS] : wait until PATH exists and, if it is a
// regular file, is not empty.
func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	waitFor(ts, args, func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && (!fi.Mode().IsRegular() || fi.Size() > 0)
	})
}

// waitexists PATH [SECONDS] : wait until PATH exists, even empty.
func cmdWaitexists(ts *testscript.TestScript, neg bool, args []string) {
	waitFor(ts, args, func(p string) bool { _, err := os.Stat(p); return err == nil })
}

func waitFor(ts *testscript.TestScript, args []string, cond func(string) bool) {
	d := 10 * time.Second
	if len(args) > 1 {
		n, _ := strconv.ParseFloat(args[1], 64)
		d = time.Duration(n * float64(time.Second))
	}
	p := ts.MkAbs(args[0])
	for deadline := time.Now().Add(d); !cond(p); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			ts.Fatalf("%s: condition not met within %v", args[0], d)
		}
	}
}

// alive PID : succeeds if the process exists and is not a zombie.
func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	pid, _ := strconv.Atoi(args[0])
	if pid <= 0 {
		ts.Fatalf("alive: bad pid %q", args[0])
	}
	if a := alive(pid); a == neg {
		ts.Fatalf("process %d alive = %v", pid, a)
	}
}

// waitdead PID [SECONDS] : wait until the process is gone (zdrun removes
// its socket just before it exits).
func cmdWaitdead(ts *testscript.TestScript, neg bool, args []string) {
	pid, _ := strconv.Atoi(args[0])
	if pid <= 0 {
		ts.Fatalf("waitdead: bad pid %q", args[0])
	}
	waitFor(ts, args, func(string) bool { return !alive(pid) })
}

// expectexit CODE PROG ARGS... : run a command (found on $PATH) and check
// its exit status; stdout and stderr are kept for the stdout/stderr checks.
func cmdExpectexit(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	if err != nil || len(args) < 2 {
		ts.Fatalf("usage: expectexit CODE command...")
	}
	path, err := exec.LookPath(args[1])
	ts.Check(err)
	cmd := exec.Command(path, args[2:]...)
	cmd.Args[0] = args[1]
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "WORK"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("expectexit: %v", err)
	}
	ts.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	os.WriteFile(ts.MkAbs("expectexit.stdout"), []byte(out.String()), 0o644)
	os.WriteFile(ts.MkAbs("expectexit.stderr"), []byte(errb.String()), 0o644)
	if code != want {
		ts.Fatalf("exit status %d, want %d", code, want)
	}
}

// stalesock PATH : leave a socket file nobody listens on.
func cmdStalesock(ts *testscript.TestScript, neg bool, args []string) {
	ln, err := net.Listen("unix", ts.MkAbs(args[0]))
	ts.Check(err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}
