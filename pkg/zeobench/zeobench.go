package zeobench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Config says what to run.
type Config struct {
	// Addr is the server to load ("host:port" or a Unix socket path).
	// Empty: start a server in this process on a loopback port.
	Addr string
	// Storage is the storage name to register (default "1").
	Storage string
	// Conns is the number of client connections (default 1).
	Conns int
	// Inflight is the number of goroutines issuing requests on each
	// connection (default 1). Real ZEO clients share one connection
	// between the threads of a process; commits stay one at a time per
	// connection (the protocol allows one transaction per connection).
	Inflight int
	// Duration of the measured phase (default 5s) unless Count is set.
	Duration time.Duration
	// Count, when > 0, is the total number of operations instead.
	Count int
	// LoadRatio is the fraction of operations that are loadBefore calls
	// (0: commits only, 1: loads only).
	LoadRatio float64
	// Objects is the number of objects written before the measured phase
	// for the loads to read (default 1000).
	Objects int
	// ObjectSize is the size of every stored pickle (default 100 bytes).
	ObjectSize int

	// In-process server only:
	// Mapping serves a MappingStorage instead of a Data.fs.
	Mapping bool
	// DataFS is the Data.fs to serve (created if missing; default a
	// temporary file removed afterwards).
	DataFS string
	// NoSync turns fsync off in the Data.fs (never for real figures).
	NoSync bool
	// NoGroupCommit (in-process) serves without group commit: every
	// transaction holds the storage-wide lock from vote to tpc_finish.
	NoGroupCommit bool
	// Raw drives the server through a lean speaker of the protocol built
	// on pkg/zeo/wire instead of pkg/zeo/client: loads only (pipelined,
	// Inflight requests outstanding per connection) or commits only (one
	// transaction at a time per connection): the server's capacity when
	// the client library is not the bottleneck.
	Raw bool
	// ServerPID, for a server in another process (a runzeo), makes the
	// result report that process's CPU time per operation and its RSS:
	// figures that do not depend on how busy the machine is.
	ServerPID int
}

// Result is what one run measured. Rates are per second of the measured
// phase; latencies are in microseconds.
type Result struct {
	Addr          string  `json:"addr"`
	InProcess     bool    `json:"in_process"`
	Storage       string  `json:"storage_kind"`
	Conns         int     `json:"conns"`
	Inflight      int     `json:"inflight"`
	LoadRatio     float64 `json:"load_ratio"`
	Seconds       float64 `json:"seconds"`
	Loads         int64   `json:"loads"`
	Commits       int64   `json:"commits"`
	Errors        int64   `json:"errors"`
	LoadsPerSec   float64 `json:"loads_per_sec"`
	CommitsPerSec float64 `json:"commits_per_sec"`
	LoadP50us     float64 `json:"load_p50_us"`
	LoadP99us     float64 `json:"load_p99_us"`
	CommitP50us   float64 `json:"commit_p50_us"`
	CommitP99us   float64 `json:"commit_p99_us"`
	// ProcessRSSMiB is this process's resident size at the end (the
	// server's too when it runs in-process).
	ProcessRSSMiB float64 `json:"process_rss_mib"`
	// With Config.ServerPID: the server's CPU time (user+system) per
	// operation and its resident size at the end.
	ServerCPUusPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	ServerRSSMiB     float64 `json:"server_rss_mib,omitempty"`
	// ProcessCPUusPerOp is this process's CPU time per operation: the
	// load generator's (plus the server's when in-process).
	ProcessCPUusPerOp float64 `json:"process_cpu_us_per_op"`
	// In-process Data.fs: group syncs (two fsyncs each) during the run
	// and the commits per sync.
	GroupSyncs     int64   `json:"group_syncs,omitempty"`
	CommitsPerSync float64 `json:"commits_per_sync,omitempty"`
	FirstError     string  `json:"first_error,omitempty"`
	// Median marks a row computed by Median from several runs.
	Median bool `json:"median,omitempty"`
}

// Run performs one benchmark run.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Storage == "" {
		cfg.Storage = "1"
	}
	cfg.Conns = max(cfg.Conns, 1)
	cfg.Inflight = max(cfg.Inflight, 1)
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Objects <= 0 {
		cfg.Objects = 1000
	}
	if cfg.ObjectSize <= 0 {
		cfg.ObjectSize = 100
	}
	if cfg.Raw && cfg.LoadRatio != 1 && cfg.LoadRatio != 0 {
		return nil, fmt.Errorf("zeobench: raw mode does loads only or commits only (load ratio 1 or 0, not %v)", cfg.LoadRatio)
	}
	if cfg.LoadRatio < 0 || cfg.LoadRatio > 1 {
		return nil, fmt.Errorf("zeobench: load ratio %v is not between 0 and 1", cfg.LoadRatio)
	}
	res := &Result{Addr: cfg.Addr, Conns: cfg.Conns, Inflight: cfg.Inflight, LoadRatio: cfg.LoadRatio, Storage: "remote"}
	var groupStats func() (int64, int64)
	if cfg.Addr == "" {
		addr, kind, stats, stop, err := startServer(cfg)
		if err != nil {
			return nil, err
		}
		defer stop()
		cfg.Addr, res.Addr, res.InProcess, res.Storage = addr, addr, true, kind
		groupStats = stats
	}
	clients := make([]*client.Client, cfg.Conns)
	for i := range clients {
		c, err := client.Dial(ctx, []string{cfg.Addr}, client.Options{Storage: cfg.Storage, Timeout: 30 * time.Second,
			Label: "zeobench-" + strconv.Itoa(i)})
		if err != nil {
			return nil, fmt.Errorf("zeobench: connecting to %s: %w", cfg.Addr, err)
		}
		defer c.Close()
		clients[i] = c
	}
	base, err := populate(clients[0], cfg)
	if err != nil {
		return nil, err
	}

	// Per worker: commits go to an object of its own, so they never
	// conflict; loads pick random objects among the populated ones.
	var (
		loads, commits, nerr atomic.Int64
		remaining            atomic.Int64
		firstErr             atomic.Pointer[string]
		wg                   sync.WaitGroup
		latMu                sync.Mutex
		loadLat, commitLat   []time.Duration
	)
	remaining.Store(int64(cfg.Count))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := CPUSeconds(cfg.ServerPID)
	self0 := CPUSeconds(os.Getpid())
	var g0, t0 int64
	if groupStats != nil {
		g0, t0 = groupStats()
	}
	start := time.Now()
	if cfg.Count <= 0 {
		timer := time.AfterFunc(cfg.Duration, cancel)
		defer timer.Stop()
	}
	payload := make([]byte, cfg.ObjectSize)
	for i := range payload {
		payload[i] = 'x'
	}
	if cfg.Raw {
		var n int64
		var lat []time.Duration
		var err error
		if cfg.LoadRatio == 1 {
			n, lat, err = rawLoads(runCtx, cfg)
			loads.Add(n)
			loadLat = lat
		} else {
			n, lat, err = rawCommits(runCtx, cfg, base, payload)
			commits.Add(n)
			commitLat = lat
		}
		if err != nil {
			nerr.Add(1)
			msg := err.Error()
			firstErr.Store(&msg)
		}
		clients = nil // no worker below
	}
	for ci, c := range clients {
		var txMu sync.Mutex // one transaction at a time per connection
		for g := 0; g < cfg.Inflight; g++ {
			w := ci*cfg.Inflight + g
			oid := base + storage.OID(w)
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				// A server that outlives runs already has this object.
				var serial tid.TID
				if _, start, _, ok, err := c.LoadBefore(oid, tid.Max); err == nil && ok {
					serial = start
				}
				var ll, cl []time.Duration
				defer func() {
					latMu.Lock()
					loadLat = append(loadLat, ll...)
					commitLat = append(commitLat, cl...)
					latMu.Unlock()
				}()
				for runCtx.Err() == nil {
					if cfg.Count > 0 && remaining.Add(-1) < 0 {
						return
					}
					t0 := time.Now()
					var err error
					if rng.Float64() < cfg.LoadRatio {
						o := storage.OID(1 + rng.IntN(cfg.Objects))
						var ok bool
						_, _, _, ok, err = c.LoadBefore(o, tid.Max)
						if err == nil && !ok {
							err = fmt.Errorf("object %s has no revision", o)
						}
						if err == nil {
							loads.Add(1)
							ll = append(ll, time.Since(t0))
						}
					} else {
						txMu.Lock()
						serial, err = commitOne(c, oid, serial, payload)
						txMu.Unlock()
						if err == nil {
							commits.Add(1)
							cl = append(cl, time.Since(t0))
						}
					}
					if err != nil {
						if runCtx.Err() != nil {
							return
						}
						nerr.Add(1)
						s := err.Error()
						firstErr.CompareAndSwap(nil, &s)
						if errors.Is(err, client.ErrDisconnected) {
							return
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	res.Seconds = elapsed
	res.Loads, res.Commits, res.Errors = loads.Load(), commits.Load(), nerr.Load()
	res.LoadsPerSec = float64(res.Loads) / elapsed
	res.CommitsPerSec = float64(res.Commits) / elapsed
	res.LoadP50us, res.LoadP99us = percentiles(loadLat)
	res.CommitP50us, res.CommitP99us = percentiles(commitLat)
	res.ProcessRSSMiB = RSSMiB(os.Getpid())
	if ops := res.Loads + res.Commits; ops > 0 {
		res.ProcessCPUusPerOp = (CPUSeconds(os.Getpid()) - self0) * 1e6 / float64(ops)
	}
	if groupStats != nil {
		g1, t1 := groupStats()
		if res.GroupSyncs = g1 - g0; res.GroupSyncs > 0 {
			res.CommitsPerSync = float64(t1-t0) / float64(res.GroupSyncs)
		}
	}
	if cfg.ServerPID > 0 {
		if ops := res.Loads + res.Commits; ops > 0 {
			res.ServerCPUusPerOp = (CPUSeconds(cfg.ServerPID) - cpu0) * 1e6 / float64(ops)
		}
		res.ServerRSSMiB = RSSMiB(cfg.ServerPID)
	}
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	return res, nil
}

func commitOne(c *client.Client, oid storage.OID, serial tid.TID, data []byte) (tid.TID, error) {
	tx, err := c.Begin("zeobench", "", nil)
	if err != nil {
		return serial, err
	}
	if err := tx.Store(oid, serial, data); err != nil {
		return serial, err
	}
	cf, _, err := tx.Vote()
	if err == nil && len(cf) != 0 {
		err = fmt.Errorf("unexpected conflict on %s", oid)
	}
	if err != nil {
		tx.Abort()
		return serial, err
	}
	return tx.Finish()
}

// populate writes cfg.Objects objects (oids 1..Objects) in transactions
// of up to 1000 and returns the first oid the commit workers may use.
// An existing storage that already holds them is reused as is.
func populate(c *client.Client, cfg Config) (storage.OID, error) {
	base := storage.OID(cfg.Objects + 1)
	if _, _, _, ok, err := c.LoadBefore(storage.OID(cfg.Objects), tid.Max); err == nil && ok {
		return base, nil
	}
	payload := make([]byte, cfg.ObjectSize)
	for first := 1; first <= cfg.Objects; first += 1000 {
		tx, err := c.Begin("zeobench", "populate", nil)
		if err != nil {
			return 0, err
		}
		for o := first; o < first+1000 && o <= cfg.Objects; o++ {
			binary.BigEndian.PutUint64(payload[:min(8, len(payload))], uint64(o))
			if err := tx.Store(storage.OID(o), 0, payload); err != nil {
				return 0, err
			}
		}
		cf, _, err := tx.Vote()
		if err == nil && len(cf) > 0 {
			err = fmt.Errorf("%d conflicts while populating: object %s exists; use an empty storage", len(cf), cf[0].OID)
		}
		if err != nil {
			tx.Abort()
			return 0, fmt.Errorf("zeobench: populating: %w", err)
		}
		if _, err := tx.Finish(); err != nil {
			return 0, fmt.Errorf("zeobench: populating: %w", err)
		}
	}
	return base, nil
}

// startServer serves a MappingStorage or a Data.fs on a loopback port.
func startServer(cfg Config) (addr, kind string, stats func() (int64, int64), stop func(), err error) {
	var st storage.Storage
	var cleanup []func()
	if cfg.Mapping {
		st, kind = mappingstorage.New("", false), "mapping"
	} else {
		path := cfg.DataFS
		if path == "" {
			dir, err := os.MkdirTemp("", "zeobench")
			if err != nil {
				return "", "", nil, nil, err
			}
			cleanup = append(cleanup, func() { os.RemoveAll(dir) })
			path = filepath.Join(dir, "Data.fs")
		}
		fs, err := fsstorage.Open(path, filestorage.Options{NoSync: cfg.NoSync})
		if err != nil {
			for _, f := range cleanup {
				f()
			}
			return "", "", nil, nil, err
		}
		st, kind, stats = fs, "filestorage", fs.GroupStats
		if cfg.NoSync {
			kind += " (no fsync)"
		}
	}
	srv, err := server.New(map[string]storage.Storage{cfg.Storage: st}, server.Options{NoGroupCommit: cfg.NoGroupCommit})
	if err != nil {
		st.Close()
		return "", "", nil, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return "", "", nil, nil, err
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	return l.Addr().String(), kind, stats, func() {
		srv.Close()
		<-done
		for _, f := range cleanup {
			f()
		}
	}, nil
}

func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) / 1e3
	}
	return at(0.50), at(0.99)
}

// RSSMiB is a process's resident set size from /proc (0 when unknown).
func RSSMiB(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// CPUSeconds is a process's user+system CPU time from /proc/PID/stat
// (0 for pid 0 or when unknown). Linux reports it in clock ticks of
// 1/100 s (USER_HZ).
func CPUSeconds(pid int) float64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// WriteTable prints results as an aligned text table.
func WriteTable(w io.Writer, rs []*Result) {
	fmt.Fprintf(w, "%-5s %-8s %-5s %10s %10s %9s %9s %9s %9s %6s %8s %9s %9s %7s %8s\n",
		"conns", "inflight", "loads", "loads/s", "commits/s", "load-p50", "load-p99", "cmt-p50", "cmt-p99", "errors", "RSS-MiB", "own-µs/op", "srv-µs/op", "srv-MiB", "cmt/sync")
	for _, r := range rs {
		if r.Median {
			fmt.Fprint(w, "median of the runs above:\n")
		}
		fmt.Fprintf(w, "%-5d %-8d %-5.2f %10.0f %10.0f %8.0fµ %8.0fµ %8.0fµ %8.0fµ %6d %8.1f %9.1f %9.1f %7.1f %8.2f\n",
			r.Conns, r.Inflight, r.LoadRatio, r.LoadsPerSec, r.CommitsPerSec, r.LoadP50us, r.LoadP99us,
			r.CommitP50us, r.CommitP99us, r.Errors, r.ProcessRSSMiB, r.ProcessCPUusPerOp, r.ServerCPUusPerOp, r.ServerRSSMiB, r.CommitsPerSync)
	}
}
