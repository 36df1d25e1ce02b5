package zeobench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// SuiteConfig is the standard measurement set (`make bench`; the figures
// and targets are in docs/performance.md).
type SuiteConfig struct {
	// Runzeo is a runzeo binary; empty: only in-process figures and no
	// startup/RSS figures.
	Runzeo   string
	Runs     int           // runs per figure (median reported), default 3
	Duration time.Duration // per run, default 3s
	// Big enables the 1M- and 3M-object files (about 470 MB of disk).
	Big bool
	Log io.Writer // progress; nil: discarded
}

// Figure is one line of the report: a measured median beside its target.
type Figure struct {
	Name, Target, Value, Note string
}

// Suite runs the standard set and returns the figures and the machine
// description.
func Suite(ctx context.Context, sc SuiteConfig) ([]Figure, string, error) {
	if sc.Runs <= 0 {
		sc.Runs = 3
	}
	if sc.Duration <= 0 {
		sc.Duration = 3 * time.Second
	}
	logw := sc.Log
	if logw == nil {
		logw = io.Discard
	}
	machine := MachineInfo()
	dir, err := os.MkdirTemp("", "zeobench-suite")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(dir)

	var figs []Figure
	median := func(cfg Config) (*Result, error) {
		var rs []*Result
		for i := 0; i < sc.Runs; i++ {
			r, err := Run(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if r.Errors > 0 {
				return nil, fmt.Errorf("%d errors, first: %s", r.Errors, r.FirstError)
			}
			rs = append(rs, r)
		}
		m := Median(rs)
		WriteTable(logw, []*Result{m})
		return m, nil
	}
	base := Config{Duration: sc.Duration, Objects: 1000}

	// Against a runzeo process when we have one: the server's CPU is
	// then measured apart from the load generator's.
	var remote string
	var pid int
	if sc.Runzeo != "" {
		addr, p, stop, err := startRunzeo(ctx, sc.Runzeo, filepath.Join(dir, "Data.fs"))
		if err != nil {
			return nil, "", err
		}
		defer stop()
		remote, pid = addr, p
	}
	where := "in-process"
	if remote != "" {
		where = "runzeo process"
	}
	load := func(conns, inflight int) (*Result, error) {
		c := base
		c.Addr, c.ServerPID, c.Conns, c.Inflight, c.LoadRatio = remote, pid, conns, inflight, 1
		if remote == "" {
			c.DataFS = filepath.Join(dir, fmt.Sprintf("load%d.fs", conns))
		}
		fmt.Fprintf(logw, "loadBefore, %d connections x %d in flight (%s):\n", conns, inflight, where)
		return median(c)
	}
	cpuNote := func(r *Result) string {
		s := fmt.Sprintf("p50 %.0f µs", r.LoadP50us+r.CommitP50us)
		if r.ServerCPUusPerOp > 0 {
			s += fmt.Sprintf("; server CPU %.1f µs/op, load generator %.1f µs/op", r.ServerCPUusPerOp, r.ProcessCPUusPerOp)
		} else {
			s += fmt.Sprintf("; client+server CPU %.1f µs/op", r.ProcessCPUusPerOp)
		}
		return s
	}
	r, err := load(8, 4)
	if err != nil {
		return nil, "", err
	}
	figs = append(figs, Figure{"loadBefore/s, 8 connections (pkg/zeo/client, 4 requests in flight each)", "≥ 100,000", fmt.Sprintf("%.0f", r.LoadsPerSec), cpuNote(r)})
	{
		c := base
		c.Addr, c.ServerPID, c.Conns, c.Inflight, c.LoadRatio, c.Raw = remote, pid, 8, 16, 1, true
		if remote == "" {
			c.DataFS = filepath.Join(dir, "loadraw.fs")
		}
		fmt.Fprintf(logw, "loadBefore, 8 connections x 16 in flight, lean pipelined client (%s):\n", where)
		if r, err = median(c); err != nil {
			return nil, "", err
		}
		figs = append(figs, Figure{"loadBefore/s, 8 connections (lean pipelined client, 16 in flight each)", "≥ 100,000", fmt.Sprintf("%.0f", r.LoadsPerSec), cpuNote(r)})
	}
	for _, n := range []int{1, 4} {
		if r, err = load(n, 1); err != nil {
			return nil, "", err
		}
		py := map[int]string{1: "Python 5.2k", 4: "Python 12.5k (≥ 1.5x: 18.8k)"}[n]
		figs = append(figs, Figure{fmt.Sprintf("loadBefore/s, %d connection(s), one request at a time", n), py, fmt.Sprintf("%.0f", r.LoadsPerSec), cpuNote(r)})
	}

	commit := func(conns int, remoteOK bool) (*Result, error) {
		c := base
		c.Conns, c.LoadRatio = conns, 0
		if remoteOK && remote != "" {
			c.Addr, c.ServerPID = remote, pid
		} else {
			c.DataFS = filepath.Join(dir, fmt.Sprintf("commit%d-%d.fs", conns, time.Now().UnixNano()))
		}
		fmt.Fprintf(logw, "one-object commits with fsync, %d connections:\n", conns)
		return median(c)
	}
	// In-process first: it counts the group syncs (two fsyncs each).
	if r, err = commit(1, false); err != nil {
		return nil, "", err
	}
	figs = append(figs, Figure{"commit, 1 client: fsyncs and round trips per commit", "≤ 2 fsyncs + 3 round trips",
		fmt.Sprintf("%.0f fsyncs + 2 round trips", 2/max(r.CommitsPerSync, 1e-9)),
		fmt.Sprintf("in-process, %.0f commits/s, p50 %.0f µs", r.CommitsPerSec, r.CommitP50us)})
	if r, err = commit(16, false); err != nil {
		return nil, "", err
	}
	figs = append(figs, Figure{"commits per group sync, 16 clients (in-process)", "> 1", fmt.Sprintf("%.1f", r.CommitsPerSync),
		fmt.Sprintf("%.0f commits/s", r.CommitsPerSec)})
	for _, n := range []int{1, 4, 16} {
		if r, err = commit(n, true); err != nil {
			return nil, "", err
		}
		target := map[int]string{1: "Python 1.1k", 4: "Python 1.1k (3x: 3.3k)", 16: "≥ 8,000"}[n]
		figs = append(figs, Figure{fmt.Sprintf("one-object commits/s, %d client(s), fsync on (%s)", n, where), target,
			fmt.Sprintf("%.0f", r.CommitsPerSec), cpuNote(r)})
	}

	if sc.Runzeo != "" && sc.Big {
		for _, n := range []int{1000000, 3000000} {
			path := filepath.Join(dir, fmt.Sprintf("big%d.fs", n))
			fmt.Fprintf(logw, "writing a %d-object Data.fs...\n", n)
			if err := Generate(path, n, 106); err != nil {
				return nil, "", err
			}
			var best []*Startup
			for i := 0; i < sc.Runs; i++ {
				s, err := StartRunzeo(ctx, sc.Runzeo, path, n, 10000)
				if err != nil {
					return nil, "", err
				}
				fmt.Fprintf(logw, "  served after %.3f s, RSS %.1f MiB, after 10000 loads %.1f MiB\n", s.Seconds, s.RSSMiB, s.LoadedRSSMiB)
				best = append(best, s)
			}
			sec := medianOf(best, func(s *Startup) float64 { return s.Seconds })
			rss := medianOf(best, func(s *Startup) float64 { return s.RSSMiB })
			lrss := medianOf(best, func(s *Startup) float64 { return s.LoadedRSSMiB })
			if n == 1000000 {
				figs = append(figs, Figure{"runzeo RSS, 1M objects indexed", "≤ 32 MB (30.5 MiB)",
					fmt.Sprintf("%.1f MiB", rss), fmt.Sprintf("%.1f MiB after 10,000 loads spread over all objects", lrss)})
			} else {
				figs = append(figs, Figure{"runzeo startup, 3M-object Data.fs with its index", "< 0.5 s",
					fmt.Sprintf("%.3f s", sec), fmt.Sprintf("exec to first register; RSS %.1f MiB", rss)})
			}
			os.Remove(path)
			os.Remove(path + ".index")
		}
	}
	return figs, machine, nil
}

func medianOf[T any](xs []T, f func(T) float64) float64 {
	rs := make([]*Result, len(xs))
	for i, x := range xs {
		rs[i] = &Result{LoadsPerSec: f(x)}
	}
	return Median(rs).LoadsPerSec
}

// startRunzeo runs a runzeo on a fresh Data.fs for the load and commit
// runs and returns its address and pid.
func startRunzeo(ctx context.Context, bin, datafs string) (string, int, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "-a", addr, "-f", datafs)
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return addr, cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("runzeo did not listen on %s: %w", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MachineInfo describes the machine: CPUs, CPU model, load average.
func MachineInfo() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	return fmt.Sprintf("%d CPUs (runtime.NumCPU), %s, %s/%s, %s, load average %s at the start",
		runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
}

// Report markers: UpdateReport replaces what lies between them.
const (
	ReportBegin = "<!-- zeobench-report:begin -->"
	ReportEnd   = "<!-- zeobench-report:end -->"
)

// FormatReport renders figures as the markdown block UpdateReport puts
// into docs/performance.md.
func FormatReport(figs []Figure, machine string, runs int, when time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s by `make bench-report` (medians of %d runs) on: %s.\n\n",
		when.UTC().Format("2006-01-02 15:04 MST"), runs, machine)
	b.WriteString("| figure | target | measured | notes |\n|---|---|---|---|\n")
	for _, f := range figs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", f.Name, f.Target, f.Value, f.Note)
	}
	return b.String()
}

// UpdateReport replaces the block between ReportBegin and ReportEnd in
// the file at path with block.
func UpdateReport(path, block string) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(old, []byte(ReportBegin))
	j := bytes.Index(old, []byte(ReportEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s ... %s block to replace", path, ReportBegin, ReportEnd)
	}
	var out bytes.Buffer
	out.Write(old[:i+len(ReportBegin)])
	out.WriteString("\n")
	out.WriteString(block)
	out.Write(old[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}

var errNoRunzeo = errors.New("zeobench: -suite -big needs -runzeo")
