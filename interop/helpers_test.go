package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binDir holds zdkit's binaries, built once per test run from ../cmd.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	pyOnce  sync.Once
	pyExe   string
	pyPath  string
	pySkip  string
	buildMu sync.Mutex
	built   = map[string]error{}
)

// python returns the interpreter and PYTHONPATH to use, or skips the test
// when the Python reference is not set up. ZDKIT_PYTHON picks the
// interpreter; otherwise "python3" on PATH and then the system one are
// tried, because a pyenv python3 often lacks the persistent/BTrees builds.
func python(t *testing.T) (exe, pythonpath string) {
	t.Helper()
	pyOnce.Do(func() {
		ref := os.Getenv("ZDKIT_PYREF")
		if ref == "" {
			pySkip = "ZDKIT_PYREF not set (see docs/interop.md)"
			return
		}
		td, err := filepath.Abs("testdata")
		if err != nil {
			pySkip = err.Error()
			return
		}
		pyPath = ref + string(os.PathListSeparator) + td
		cands := []string{"python3", "/usr/bin/python3"}
		if e := os.Getenv("ZDKIT_PYTHON"); e != "" {
			cands = []string{e}
		}
		var msgs []string
		for _, c := range cands {
			cmd := exec.Command(c, "-c", "import ZODB, ZEO, ZConfig, zdaemon, BTrees, persistent, transaction")
			cmd.Env = append(os.Environ(), "PYTHONPATH="+pyPath)
			out, err := cmd.CombinedOutput()
			if err == nil {
				pyExe = c
				return
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v %s", c, err, lastLine(string(out))))
		}
		pySkip = "no Python can import ZODB/ZEO with ZDKIT_PYREF: " + strings.Join(msgs, "; ")
	})
	if pySkip != "" {
		t.Skip(pySkip)
	}
	return pyExe, pyPath
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// bin builds one of zdkit's commands (once per run) and returns its
// path. Each command is built on its own so that a package another
// engineer is half-way through editing only fails the tests that use it.
func bin(t *testing.T, name string) string {
	t.Helper()
	python(t) // skip before paying for a build
	buildMu.Lock()
	defer buildMu.Unlock()
	if binDir == "" {
		dir, err := os.MkdirTemp("", "zdkit-interop-bin")
		if err != nil {
			t.Fatal(err)
		}
		binDir = dir
	}
	if err, done := built[name]; done {
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(binDir, name)
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "../cmd/"+name)
	var err error
	if out, e := cmd.CombinedOutput(); e != nil {
		err = fmt.Errorf("go build ../cmd/%s: %v\n%s", name, e, out)
	}
	built[name] = err
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(binDir, name)
}

// result is what a finished command printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a command with a deadline; a command still running at the
// deadline is killed and the test fails, so a hang shows up as a failure
// naming the command instead of a stuck test binary.
func run(t *testing.T, dir string, env []string, timeout time.Duration, name string, args ...string) result {
	t.Helper()
	r, err := runE(dir, env, timeout, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runE is run for goroutines other than the test's: it reports a hang or
// a start failure as an error instead of failing the test.
func runE(dir string, env []string, timeout time.Duration, name string, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	r := result{stdout: so.String(), stderr: se.String()}
	if ctx.Err() != nil {
		return r, fmt.Errorf("%s %s: still running after %v (hang)\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), timeout, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		return r, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

// py runs a Python module or script with the reference PYTHONPATH.
func py(t *testing.T, dir string, timeout time.Duration, args ...string) result {
	t.Helper()
	exe, pp := python(t)
	return run(t, dir, []string{"PYTHONPATH=" + pp}, timeout, exe, args...)
}

// script returns the absolute path of a helper script in testdata.
func script(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustOK fails the test unless the command exited 0.
func mustOK(t *testing.T, what string, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a running runzeo started by a test.
type server struct {
	cmd  *exec.Cmd
	addr string // HOST:PORT or socket path, as zeo_client.py takes it
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedBuf struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (s *server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// startServer starts a command that listens on addr and waits until addr
// accepts connections. The server gets SIGTERM at cleanup (SIGKILL if it
// is still there 10 s later).
func startServer(t *testing.T, dir, addr string, env []string, name string, args ...string) *server {
	t.Helper()
	s := &server{addr: addr, log: new(bytes.Buffer), mu: new(sync.Mutex), done: make(chan struct{})}
	s.cmd = exec.Command(name, args...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	w := lockedBuf{s.mu, s.log}
	s.cmd.Stdout, s.cmd.Stderr = w, w
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.stop(t) })
	network := "tcp"
	if strings.Contains(addr, "/") {
		network = "unix"
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited before listening: %v\n%s", name, s.cmd.ProcessState, s.output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 20s\n%s", name, addr, s.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; it reports whether the server exited by
// itself within 10 s (a server that needs SIGKILL is a finding).
func (s *server) stop(t *testing.T) bool {
	select {
	case <-s.done:
		return true
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return true
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("server %s ignored SIGTERM for 10s; killed\n%s", s.addr, s.output())
		return false
	}
}

// runzeo starts zdkit's runzeo on a fresh Data.fs in dir with -a/-f.
func runzeo(t *testing.T, dir string, env []string, extra ...string) *server {
	t.Helper()
	addr := freePort(t)
	args := append([]string{"-a", addr, "-f", filepath.Join(dir, "Data.fs")}, extra...)
	return startServer(t, dir, addr, env, bin(t, "runzeo"), args...)
}

// client runs one zeo_client.py scenario against addr.
func client(t *testing.T, dir, addr, scenario string) result {
	t.Helper()
	return py(t, dir, 90*time.Second, script(t, "zeo_client.py"), addr, scenario)
}
