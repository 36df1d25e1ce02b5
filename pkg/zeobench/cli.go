package zeobench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // -pprof serves the profiles
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Main is the zeobench command: it parses args, runs every requested
// connection count `runs` times and prints a table (stdout) and, with
// -json, the results as a JSON array. It returns the exit status:
// 0 ok, 1 a run failed, 2 usage.
func Main(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("zeobench", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var cfg Config
	fl.StringVar(&cfg.Addr, "a", "", "server address (host:port or a Unix socket path); empty: start a server in-process")
	fl.StringVar(&cfg.Storage, "S", "1", "storage name")
	conns := fl.String("c", "1", "connection counts, comma-separated (one run set per count)")
	fl.IntVar(&cfg.Inflight, "inflight", 1, "concurrent requests per connection")
	fl.DurationVar(&cfg.Duration, "d", 0, "duration of each run (default 5s)")
	fl.IntVar(&cfg.Count, "n", 0, "operations per run instead of a duration")
	fl.Float64Var(&cfg.LoadRatio, "loads", 1, "fraction of operations that are loadBefore (the rest are one-object commits)")
	fl.IntVar(&cfg.Objects, "objects", 1000, "objects written before measuring, for the loads")
	fl.IntVar(&cfg.ObjectSize, "size", 100, "object size in bytes")
	fl.BoolVar(&cfg.Mapping, "mapping", false, "in-process: serve a MappingStorage instead of a Data.fs")
	fl.StringVar(&cfg.DataFS, "datafs", "", "in-process: the Data.fs to serve (default a temporary one)")
	fl.BoolVar(&cfg.NoGroupCommit, "nogroup", false, "in-process: no group commit (storage-wide lock from vote to tpc_finish, for comparison)")
	fl.BoolVar(&cfg.NoSync, "nosync", false, "in-process: no fsync (not for real figures)")
	fl.BoolVar(&cfg.Raw, "raw", false, "loads only or commits only: a lean protocol speaker instead of pkg/zeo/client (server capacity)")
	fl.IntVar(&cfg.ServerPID, "server-pid", 0, "pid of the server process (with -a): report its CPU µs per operation and RSS")
	runs := fl.Int("runs", 1, "runs per connection count; the table shows each run and the median")
	jsonOut := fl.String("json", "", "write the results as JSON to this file (- for stdout, after the table)")
	pprofAddr := fl.String("pprof", "", "serve net/http/pprof on this address while running (e.g. 127.0.0.1:6060)")
	cpuProf := fl.String("cpuprofile", "", "write a CPU profile of this process (the server too when in-process)")
	gen := fl.Int("gen", 0, "write a new Data.fs (-datafs) with this many objects and its index, then exit")
	runzeo := fl.String("runzeo", "", "measure startup: run this runzeo binary on -datafs, time until it serves, report its RSS, then exit")
	suite := fl.Bool("suite", false, "run the standard set (uses -runzeo, -runs, -d) and print each figure beside its target")
	big := fl.Bool("big", false, "with -suite: also the 1M-object RSS and 3M-object startup figures (writes ~470 MB of temporary files)")
	report := fl.String("report", "", "with -suite: replace the figures block of this markdown file (docs/performance.md)")
	if err := fl.Parse(args[1:]); err != nil {
		return 2
	}
	if *suite {
		if *big && *runzeo == "" {
			fmt.Fprintln(stderr, errNoRunzeo)
			return 2
		}
		when := time.Now()
		figs, machine, err := Suite(context.Background(), SuiteConfig{Runzeo: *runzeo, Runs: *runs, Duration: cfg.Duration, Big: *big, Log: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "zeobench: %v\n", err)
			return 1
		}
		block := FormatReport(figs, machine, max(*runs, 1), when)
		fmt.Fprint(stdout, block)
		if *report != "" {
			if err := UpdateReport(*report, block); err != nil {
				fmt.Fprintf(stderr, "zeobench: %v\n", err)
				return 1
			}
		}
		return 0
	}
	if *gen > 0 || *runzeo != "" {
		if cfg.DataFS == "" {
			fmt.Fprintln(stderr, "zeobench: -gen and -runzeo need -datafs")
			return 2
		}
		if *gen > 0 {
			t0 := time.Now()
			if err := Generate(cfg.DataFS, *gen, cfg.ObjectSize); err != nil {
				fmt.Fprintf(stderr, "zeobench: %v\n", err)
				return 1
			}
			fmt.Fprintf(stdout, "wrote %s: %d objects in %.1f s\n", cfg.DataFS, *gen, time.Since(t0).Seconds())
		}
		if *runzeo != "" {
			objects := *gen
			if objects == 0 {
				objects = cfg.Objects
			}
			var results []*Startup
			for i := 0; i < max(*runs, 1); i++ {
				r, err := StartRunzeo(context.Background(), *runzeo, cfg.DataFS, objects, 10000)
				if err != nil {
					fmt.Fprintf(stderr, "zeobench: %v\n", err)
					return 1
				}
				results = append(results, r)
				fmt.Fprintf(stdout, "runzeo serving %d objects after %.3f s, RSS %.1f MiB; after %d loads %.1f MiB\n",
					r.Objects, r.Seconds, r.RSSMiB, r.Loaded, r.LoadedRSSMiB)
			}
			if *jsonOut != "" {
				b, _ := json.MarshalIndent(results, "", "  ")
				if *jsonOut == "-" {
					stdout.Write(append(b, '\n'))
				} else if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
					fmt.Fprintf(stderr, "zeobench: %v\n", err)
					return 1
				}
			}
		}
		return 0
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "zeobench: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	var counts []int
	for _, f := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(stderr, "zeobench: -c: bad connection count %q\n", f)
			return 2
		}
		counts = append(counts, n)
	}
	if *pprofAddr != "" {
		l, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintf(stderr, "zeobench: -pprof: %v\n", err)
			return 2
		}
		defer l.Close()
		go http.Serve(l, nil)
		fmt.Fprintf(stderr, "zeobench: pprof on http://%s/debug/pprof/\n", l.Addr())
	}
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintf(stderr, "zeobench: -cpuprofile: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "zeobench: -cpuprofile: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	var all, table []*Result
	status := 0
	for _, n := range counts {
		c := cfg
		c.Conns = n
		var set []*Result
		for i := 0; i < max(*runs, 1); i++ {
			r, err := Run(context.Background(), c)
			if err != nil {
				fmt.Fprintf(stderr, "zeobench: %v\n", err)
				return 1
			}
			if r.Errors > 0 {
				fmt.Fprintf(stderr, "zeobench: %d errors, first: %s\n", r.Errors, r.FirstError)
				status = 1
			}
			set = append(set, r)
		}
		all = append(all, set...)
		table = append(table, set...)
		if len(set) > 1 {
			table = append(table, Median(set))
		}
	}
	WriteTable(stdout, table)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		b = append(b, '\n')
		if *jsonOut == "-" {
			stdout.Write(b)
		} else if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintf(stderr, "zeobench: %v\n", err)
			return 1
		}
	}
	return status
}

// Median returns a Result whose rates and latencies are the medians of
// rs (counts and the rest come from the first run).
func Median(rs []*Result) *Result {
	m := *rs[0]
	med := func(get func(*Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = get(r)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m.LoadsPerSec = med(func(r *Result) float64 { return r.LoadsPerSec })
	m.CommitsPerSec = med(func(r *Result) float64 { return r.CommitsPerSec })
	m.LoadP50us = med(func(r *Result) float64 { return r.LoadP50us })
	m.LoadP99us = med(func(r *Result) float64 { return r.LoadP99us })
	m.CommitP50us = med(func(r *Result) float64 { return r.CommitP50us })
	m.CommitP99us = med(func(r *Result) float64 { return r.CommitP99us })
	m.ProcessRSSMiB = med(func(r *Result) float64 { return r.ProcessRSSMiB })
	m.ServerCPUusPerOp = med(func(r *Result) float64 { return r.ServerCPUusPerOp })
	m.ProcessCPUusPerOp = med(func(r *Result) float64 { return r.ProcessCPUusPerOp })
	m.ServerRSSMiB = med(func(r *Result) float64 { return r.ServerRSSMiB })
	m.CommitsPerSync = med(func(r *Result) float64 { return r.CommitsPerSync })
	m.Median = true
	return &m
}
