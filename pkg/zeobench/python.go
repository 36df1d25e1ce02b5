package zeobench

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The load process of the Python-client benchmark: a real ZEO 6
// ClientStorage doing one-object commits or loadBefore calls that skip
// the client cache.
//
//go:embed pyclient.py
var pyClientScript []byte

// ErrNoPython: the Python-client benchmark needs ZDKIT_PYREF (a
// PYTHONPATH holding ZEO and ZODB) and a Python to run them.
var ErrNoPython = errors.New("zeobench: no Python ZEO (set ZDKIT_PYREF to a PYTHONPATH with ZEO and ZODB, ZDKIT_PYTHON to the interpreter)")

// PyConfig is the Python-client benchmark: Python's runzeo, ours on a
// FileStorage and ours on a MappingStorage, each loaded by N processes
// of the real Python ClientStorage, in one run.
type PyConfig struct {
	Python string // interpreter (ZDKIT_PYTHON, default python3)
	PyRef  string // PYTHONPATH with ZEO and ZODB (ZDKIT_PYREF)
	Runzeo string // our runzeo binary
	// Clients: the process counts measured (default 1 and 4).
	Clients  []int
	Duration time.Duration // per measurement, default 3 s
	Runs     int           // default 3; medians are reported
	Log      io.Writer
}

// PyConfigFromEnv fills Python and PyRef from ZDKIT_PYTHON and
// ZDKIT_PYREF; ErrNoPython when no Python ZEO is there.
func PyConfigFromEnv(pc PyConfig) (PyConfig, error) {
	pc.PyRef = os.Getenv("ZDKIT_PYREF")
	pc.Python = os.Getenv("ZDKIT_PYTHON")
	if pc.Python == "" {
		pc.Python = "python3"
	}
	if pc.PyRef == "" {
		return pc, ErrNoPython
	}
	if _, err := os.Stat(filepath.Join(pc.PyRef, "ZEO")); err != nil {
		return pc, fmt.Errorf("%w: %v", ErrNoPython, err)
	}
	return pc, nil
}

// The servers compared, in the order of the table.
const (
	PyServerPython  = "Python runzeo (FileStorage)"
	PyServerOurs    = "zdkit runzeo (FileStorage)"
	PyServerMapping = "zdkit runzeo (<mappingstorage>)"
)

// PyResult is the median of one (server, operation, clients) cell.
type PyResult struct {
	Server  string
	Op      string // "commit" or "loadBefore"
	Clients int
	PerSec  float64
	// ServerCPUUs is the server process's user+system CPU per operation
	// (/proc/PID/stat), fsync kernel time included.
	ServerCPUUs float64
}

// PyBench runs the benchmark: for each run, each server in turn on a
// fresh database, each client count, commits then loads.
func PyBench(ctx context.Context, pc PyConfig) ([]PyResult, error) {
	if pc.Duration <= 0 {
		pc.Duration = 3 * time.Second
	}
	if pc.Runs <= 0 {
		pc.Runs = 3
	}
	if len(pc.Clients) == 0 {
		pc.Clients = []int{1, 4}
	}
	logw := pc.Log
	if logw == nil {
		logw = io.Discard
	}
	dir, err := os.MkdirTemp("", "zeobench-python")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "pyclient.py")
	if err := os.WriteFile(script, pyClientScript, 0o644); err != nil {
		return nil, err
	}
	type key struct {
		server, op string
		n          int
	}
	samples := map[key][]PyResult{}
	servers := []string{PyServerPython, PyServerOurs, PyServerMapping}
	// The three servers run side by side and take turns for each
	// measurement, so that a change in what the rest of the machine
	// does affects the three alike and the ratios stay comparable.
	type running struct {
		addr string
		pid  int
	}
	for run := 0; run < pc.Runs; run++ {
		live := map[string]running{}
		var stops []func()
		stopAll := func() {
			for _, stop := range stops {
				stop()
			}
		}
		for _, srv := range servers {
			addr, pid, stop, err := pc.startServer(ctx, srv, filepath.Join(dir, fmt.Sprintf("run%d", run)))
			if err != nil {
				stopAll()
				return nil, fmt.Errorf("%s: %w", srv, err)
			}
			live[srv] = running{addr, pid}
			stops = append(stops, stop)
		}
		for _, n := range pc.Clients {
			for _, op := range []string{"commit", "loadBefore"} {
				for _, srv := range servers {
					r, err := pc.load(ctx, script, live[srv].addr, live[srv].pid, op, n)
					if err != nil {
						stopAll()
						return nil, fmt.Errorf("%s, %d %s clients: %w", srv, n, op, err)
					}
					r.Server = srv
					fmt.Fprintf(logw, "run %d: %-32s %d client(s) %-10s %8.0f/s  server CPU %6.1f µs/op\n",
						run+1, srv, n, op, r.PerSec, r.ServerCPUUs)
					k := key{srv, op, n}
					samples[k] = append(samples[k], r)
				}
			}
		}
		stopAll()
	}
	var out []PyResult
	for _, op := range []string{"commit", "loadBefore"} {
		for _, n := range pc.Clients {
			for _, srv := range servers {
				s := samples[key{srv, op, n}]
				m := PyResult{Server: srv, Op: op, Clients: n}
				m.PerSec = medianFloat(s, func(r PyResult) float64 { return r.PerSec })
				m.ServerCPUUs = medianFloat(s, func(r PyResult) float64 { return r.ServerCPUUs })
				out = append(out, m)
			}
		}
	}
	return out, nil
}

func medianFloat[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (pc PyConfig) pyEnv() []string {
	return append(os.Environ(), "PYTHONPATH="+pc.PyRef)
}

// startServer starts one of the compared servers in dir on a loopback
// port and returns its address and pid once it accepts connections.
func (pc PyConfig) startServer(ctx context.Context, which, dir string) (string, int, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	var cmd *exec.Cmd
	switch which {
	case PyServerPython:
		cmd = exec.CommandContext(ctx, pc.Python, "-m", "ZEO.runzeo", "-a", addr, "-f", filepath.Join(dir, "py.fs"))
		cmd.Env = pc.pyEnv()
	case PyServerOurs:
		cmd = exec.CommandContext(ctx, pc.Runzeo, "-a", addr, "-f", filepath.Join(dir, "go.fs"))
	case PyServerMapping:
		conf := filepath.Join(dir, "mapping.conf")
		text := fmt.Sprintf("<zeo>\n  address %s\n</zeo>\n<mappingstorage 1>\n</mappingstorage>\n", addr)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			return "", 0, nil, err
		}
		cmd = exec.CommandContext(ctx, pc.Runzeo, "-C", conf)
	}
	pid, stop, err := startListening(cmd, addr, 60*time.Second)
	return addr, pid, stop, err
}

// load runs n Python client processes doing op for pc.Duration, all
// started together once every one is connected, and measures the
// server's CPU over the same window.
func (pc PyConfig) load(ctx context.Context, script, addr string, pid int, op string, n int) (PyResult, error) {
	mode := map[string]string{"commit": "commit", "loadBefore": "load"}[op]
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var procs []proc
	defer func() {
		for _, p := range procs {
			p.in.Close()
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	}()
	for i := 0; i < n; i++ {
		cmd := exec.CommandContext(ctx, pc.Python, script, addr, mode, strconv.FormatFloat(pc.Duration.Seconds(), 'f', 3, 64))
		cmd.Env = pc.pyEnv()
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return PyResult{}, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return PyResult{}, err
		}
		if err := cmd.Start(); err != nil {
			return PyResult{}, err
		}
		procs = append(procs, proc{cmd, in, bufio.NewReader(out)})
	}
	for _, p := range procs {
		line, err := p.out.ReadString('\n')
		if strings.TrimSpace(line) != "ready" {
			return PyResult{}, fmt.Errorf("client process: %q %v", line, err)
		}
	}
	cpu0 := CPUSeconds(pid)
	for _, p := range procs {
		io.WriteString(p.in, "go\n")
	}
	var ops, rate float64
	for _, p := range procs {
		line, err := p.out.ReadString('\n')
		var k int64
		var sec float64
		if _, e := fmt.Sscanf(line, "ops %d seconds %f", &k, &sec); e != nil || sec <= 0 {
			return PyResult{}, fmt.Errorf("client process: %q %v", line, err)
		}
		ops += float64(k)
		rate += float64(k) / sec
	}
	cpu1 := CPUSeconds(pid)
	r := PyResult{Op: op, Clients: n, PerSec: rate}
	if ops > 0 {
		r.ServerCPUUs = (cpu1 - cpu0) * 1e6 / ops
	}
	return r, nil
}

// PyReport renders the Python-client table, the ratios against the
// issue's targets, and the floor, as markdown.
func PyReport(rs []PyResult, fl Floor, machine string, runs int, when time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s (medians of %d runs, the real ZEO 6 `ClientStorage` as the load, one process per client) on: %s.\n\n",
		when.UTC().Format("2006-01-02 15:04 MST"), runs, machine)
	fmt.Fprintf(&b, "The %s.\n\n", fl)
	get := func(srv, op string, n int) PyResult {
		for _, r := range rs {
			if r.Server == srv && r.Op == op && r.Clients == n {
				return r
			}
		}
		return PyResult{}
	}
	b.WriteString("| operation | clients | Python runzeo /s (srv µs/op) | zdkit FileStorage /s (srv µs/op) | zdkit mapping /s (srv µs/op) | zdkit FS / Python |\n|---|---|---|---|---|---|\n")
	var ns []int
	for _, r := range rs {
		if r.Server == PyServerPython && r.Op == "commit" {
			ns = append(ns, r.Clients)
		}
	}
	for _, op := range []string{"commit", "loadBefore"} {
		for _, n := range ns {
			p, o, m := get(PyServerPython, op, n), get(PyServerOurs, op, n), get(PyServerMapping, op, n)
			fmt.Fprintf(&b, "| %s | %d | %.0f (%.0f) | %.0f (%.0f) | %.0f (%.0f) | %.2fx |\n",
				op, n, p.PerSec, p.ServerCPUUs, o.PerSec, o.ServerCPUUs, m.PerSec, m.ServerCPUUs, ratio(o.PerSec, p.PerSec))
		}
	}
	b.WriteString("\n| target | measured |\n|---|---|\n")
	for _, n := range ns {
		want := map[int]string{1: "≥ 1.3x", 4: "≥ 3x"}[n]
		if want == "" {
			continue
		}
		fmt.Fprintf(&b, "| one-object commits, %d Python client(s): %s Python's runzeo | %.2fx |\n",
			n, want, ratio(get(PyServerOurs, "commit", n).PerSec, get(PyServerPython, "commit", n).PerSec))
	}
	if len(ns) > 0 {
		n := ns[0]
		fmt.Fprintf(&b, "| server CPU per one-object commit, %d client(s): ≤ 1/3 of Python's | %.2f of Python's (%.0f / %.0f µs) |\n", n,
			ratio(get(PyServerOurs, "commit", n).ServerCPUUs, get(PyServerPython, "commit", n).ServerCPUUs),
			get(PyServerOurs, "commit", n).ServerCPUUs, get(PyServerPython, "commit", n).ServerCPUUs)
		fmt.Fprintf(&b, "| server CPU per loadBefore, %d client(s): ≤ 1.5x the echo floor (paced as a Python client) | %.2fx (%.1f / %.1f µs) |\n", n,
			ratio(get(PyServerOurs, "loadBefore", n).ServerCPUUs, fl.EchoPacedServerCPUUs),
			get(PyServerOurs, "loadBefore", n).ServerCPUUs, fl.EchoPacedServerCPUUs)
	}
	return b.String()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Python report markers in docs/performance.md.
const (
	PyReportBegin = "<!-- zeobench-python:begin -->"
	PyReportEnd   = "<!-- zeobench-python:end -->"
)
