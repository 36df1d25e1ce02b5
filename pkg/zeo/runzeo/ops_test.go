package runzeo

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/dashboards"
	"github.com/zdkit/zdkit/pkg/zeo/client"
)

const runzeoChildEnv = "ZDKIT_RUNZEO_TEST_CHILD"

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeSystemd is a unixgram socket standing in for systemd's
// NOTIFY_SOCKET; every datagram runzeo sends arrives on msgs.
type fakeSystemd struct {
	path string
	msgs chan string
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	// A short directory: socket paths are limited to ~108 bytes.
	dir, err := os.MkdirTemp("", "nfy")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &fakeSystemd{path: filepath.Join(dir, "notify"), msgs: make(chan string, 16)}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: f.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			f.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

// next waits for the next datagram.
func (f *fakeSystemd) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-f.msgs:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no NOTIFY_SOCKET message within 30 s")
		return ""
	}
}

// notifyFields splits a datagram into its KEY=value lines.
func notifyFields(msg string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

type runzeoProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error
}

// startRunzeo starts the test binary as runzeo with args; NOTIFY_SOCKET
// is set to notifyPath when given. The process is killed at cleanup if
// the test did not stop it.
func startRunzeo(t *testing.T, notifyPath string, args ...string) *runzeoProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runzeoChildEnv+"=1")
	if notifyPath != "" {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+notifyPath)
	}
	p := &runzeoProc{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout = p.stderr
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("runzeo output:\n%s", p.stderr.String())
		}
	})
	return p
}

// stop sends sig and returns the exit status.
func (p *runzeoProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("runzeo did not exit within 30 s of %v", sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

var metricsLine = regexp.MustCompile(`serving metrics on http://(\S+)/metrics`)

// metricsURL reads the bound metrics address from runzeo's log.
func (p *runzeoProc) metricsURL(t *testing.T) string {
	t.Helper()
	m := metricsLine.FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("no 'serving metrics on' line in the log:\n%s", p.stderr.String())
	}
	return "http://" + m[1]
}

func httpGet(t *testing.T, hc *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// scrape returns every sample of /metrics, keyed by name{labels}.
func scrape(t *testing.T, hc *http.Client, base string) map[string]float64 {
	t.Helper()
	code, body, hdr := httpGet(t, hc, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("/metrics Content-Type %q", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q", l)
		}
		out[l[:i]] = v
	}
	return out
}

// A real runzeo with --metrics-address: the values of /metrics move with
// real traffic from pkg/zeo/client, /status carries server_status as
// JSON, pprof answers, and the fake systemd sees READY=1 then STOPPING=1.
func TestMetricsMoveWithTraffic(t *testing.T) {
	dir := t.TempDir()
	nfy := newFakeSystemd(t)
	sock := filepath.Join(nfy.path + ".zeo") // short path beside the notify socket
	data := filepath.Join(dir, "Data.fs")
	p := startRunzeo(t, nfy.path, "-a", sock, "-f", data, "--metrics-address", "127.0.0.1:0")

	ready := notifyFields(nfy.next(t))
	if ready["READY"] != "1" || ready["MAINPID"] != strconv.Itoa(p.cmd.Process.Pid) {
		t.Fatalf("first notification %q, want READY=1 and MAINPID=%d", ready, p.cmd.Process.Pid)
	}
	base := p.metricsURL(t)
	hc := &http.Client{Timeout: 30 * time.Second}
	const s1 = `{storage="1"}`
	before := scrape(t, hc, base)
	// Every query of the Grafana dashboard names a metric runzeo exports.
	_, expo, _ := httpGet(t, hc, base+"/metrics")
	if missing, err := dashboards.Missing("zeo_", expo); err != nil || len(missing) > 0 {
		t.Errorf("dashboards/zdkit.json queries metrics runzeo does not export: %v %v", missing, err)
	}
	for _, name := range []string{"zeo_loads_total", "zeo_stores_total", "zeo_commits_total", "zeo_aborts_total",
		"zeo_conflicts_total", "zeo_connections", "zeo_waiting_committers", "zeo_active_transactions",
		"zeo_commit_lock_held_seconds", "zeo_last_transaction_age_seconds", "zeo_objects", "zeo_storage_bytes",
		"zeo_group_commit_syncs_total", "zeo_group_commit_transactions_total"} {
		if _, ok := before[name+s1]; !ok {
			t.Errorf("/metrics has no %s%s", name, s1)
		}
	}
	// The latency histograms are shown, empty, before any traffic.
	hists := []string{"zeo_load_duration_seconds", "zeo_commit_duration_seconds", "zeo_fsync_duration_seconds"}
	for _, h := range hists {
		for _, k := range []string{h + "_count" + s1, h + "_sum" + s1, h + `_bucket{storage="1",le="+Inf"}`} {
			if v, ok := before[k]; !ok || v != 0 {
				t.Errorf("fresh server: %s = %v (present %v), want 0", k, v, ok)
			}
		}
	}
	if before["zeo_connections"+s1] != 0 || before["zeo_commits_total"+s1] != 0 || before["zeo_objects"+s1] != 0 {
		t.Errorf("fresh server: connections %v commits %v objects %v, want 0",
			before["zeo_connections"+s1], before["zeo_commits_total"+s1], before["zeo_objects"+s1])
	}
	if st := before["zeo_start_time_seconds"]; st < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("zeo_start_time_seconds %v", st)
	}

	c, err := client.Dial(context.Background(), []string{sock}, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	oids, err := c.NewOIDs(2)
	if err != nil {
		t.Fatal(err)
	}
	// Scrapes run concurrently with the traffic below: runzeo is the
	// race-built test binary under -race, and a race it reports makes
	// its exit status non-zero (checked after SIGTERM).
	scrapeDone := make(chan int)
	stopScrape := make(chan struct{})
	go func() {
		n := 0
		defer func() { scrapeDone <- n }()
		for {
			select {
			case <-stopScrape:
				return
			default:
			}
			resp, err := hc.Get(base + "/metrics")
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n++
		}
	}()
	// Two commits of one new object each.
	for _, oid := range oids {
		tx, err := c.Begin("u", "metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Store(oid, 0, []byte("data for "+strconv.Itoa(int(oid)))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		if _, _, err := c.Load(oids[0]); err != nil {
			t.Fatal(err)
		}
	}
	// An abort, and a conflict: storing oids[0] again as new (serial 0)
	// while it has a revision.
	tx, err := c.Begin("u", "aborted", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Abort(); err != nil {
		t.Fatal(err)
	}
	tx, err = c.Begin("u", "conflict", nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Store(oids[0], 0, []byte("stale"))
	conflicts, _, verr := tx.Vote()
	if verr == nil && len(conflicts) == 0 {
		t.Fatal("a store with a stale serial voted without a conflict")
	}
	tx.Abort()

	close(stopScrape)
	if n := <-scrapeDone; n == 0 {
		t.Error("no scrape completed during the traffic")
	}
	after := scrape(t, hc, base)
	checks := []struct {
		name string
		want func(before, after float64) bool
		what string
	}{
		{"zeo_commits_total", func(b, a float64) bool { return a == b+2 }, "+2"},
		{"zeo_stores_total", func(b, a float64) bool { return a >= b+2 }, ">= +2"},
		{"zeo_loads_total", func(b, a float64) bool { return a >= b+5 }, ">= +5"},
		{"zeo_aborts_total", func(b, a float64) bool { return a >= b+1 }, ">= +1"},
		{"zeo_conflicts_total", func(b, a float64) bool { return a >= b+1 }, ">= +1"},
		{"zeo_connections", func(b, a float64) bool { return a == 1 }, "1"},
		{"zeo_objects", func(b, a float64) bool { return a == b+2 }, "+2"},
		{"zeo_storage_bytes", func(b, a float64) bool { return a > b }, "grows"},
		{"zeo_group_commit_transactions_total", func(b, a float64) bool { return a == b+2 }, "+2"},
		{"zeo_last_transaction_age_seconds", func(b, a float64) bool { return a >= 0 && a < 60 }, "in [0, 60)"},
		{"zeo_active_transactions", func(b, a float64) bool { return a == 0 }, "0"},
		{"zeo_waiting_committers", func(b, a float64) bool { return a == 0 }, "0"},
	}
	for _, ck := range checks {
		b, a := before[ck.name+s1], after[ck.name+s1]
		if !ck.want(b, a) {
			t.Errorf("%s: %v -> %v, want %s", ck.name, b, a, ck.what)
		}
	}
	// The histograms counted the same events as the counters: every
	// load, the two commits (not the conflicting vote), every group sync.
	delta := func(name string) float64 { return after[name] - before[name] }
	histChecks := []struct{ hist, counter string }{
		{"zeo_load_duration_seconds", "zeo_loads_total"},
		{"zeo_commit_duration_seconds", "zeo_commits_total"},
		{"zeo_fsync_duration_seconds", "zeo_group_commit_syncs_total"},
	}
	for _, hc := range histChecks {
		n := delta(hc.hist + "_count" + s1)
		if want := delta(hc.counter + s1); n != want || n < 1 {
			t.Errorf("%s_count moved by %v, %s by %v: want equal and >= 1", hc.hist, n, hc.counter, want)
		}
		if inf := after[hc.hist+`_bucket{storage="1",le="+Inf"}`]; inf != after[hc.hist+"_count"+s1] {
			t.Errorf("%s: +Inf bucket %v, count %v", hc.hist, inf, after[hc.hist+"_count"+s1])
		}
		if sum := after[hc.hist+"_sum"+s1]; !(sum > 0 && sum < 60*after[hc.hist+"_count"+s1]) {
			t.Errorf("%s_sum %v for %v observations", hc.hist, sum, after[hc.hist+"_count"+s1])
		}
	}
	if n := delta("zeo_commit_duration_seconds_count" + s1); n != 2 {
		t.Errorf("zeo_commit_duration_seconds_count moved by %v, want 2", n)
	}
	// The file really has that many bytes.
	if fi, err := os.Stat(data); err != nil || float64(fi.Size()) != after["zeo_storage_bytes"+s1] {
		t.Errorf("zeo_storage_bytes %v, Data.fs %v (%v)", after["zeo_storage_bytes"+s1], fi.Size(), err)
	}

	// /status: server_status of every storage, the same numbers.
	code, body, hdr := httpGet(t, hc, base+"/status")
	if code != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("/status: %d %q", code, hdr.Get("Content-Type"))
	}
	var status map[string]map[string]any
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	st := status["1"]
	if st == nil || st["commits"] != after["zeo_commits_total"+s1] || st["connections"] != float64(1) {
		t.Errorf("/status %s: commits %v connections %v, metrics say %v commits", body, st["commits"], st["connections"], after["zeo_commits_total"+s1])
	}
	if lt, _ := st["last-transaction"].(string); len(lt) != 16 {
		t.Errorf("/status last-transaction %q", st["last-transaction"])
	}

	// pprof under /debug/pprof/.
	code, body, _ = httpGet(t, hc, base+"/debug/pprof/")
	if code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d %.200s", code, body)
	}
	code, body, _ = httpGet(t, hc, base+"/debug/pprof/goroutine?debug=1")
	if code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Errorf("/debug/pprof/goroutine: %d %.200s", code, body)
	}
	if code, _, _ := httpGet(t, hc, base+"/nothing"); code != 404 {
		t.Errorf("/nothing: status %d, want 404", code)
	}

	c.Close()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	stopping := notifyFields(nfy.next(t))
	if stopping["STOPPING"] != "1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", stopping)
	}
	if _, err := hc.Get(base + "/metrics"); err == nil {
		t.Error("the metrics address still answers after runzeo exited")
	}
}

// runzeo under a fake systemd, configured by the metrics-address key (a
// Unix socket here): READY=1 with its pid once it listens, metrics
// served on the socket, STOPPING=1 on SIGINT (exit 0) and on SIGHUP
// (exit 1, zdrun's restart), and the sockets removed at exit.
func TestNotifyReadyStopping(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 0}, {syscall.SIGHUP, 1}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			nfy := newFakeSystemd(t)
			msock := nfy.path + ".metrics"
			zsock := nfy.path + ".zeo"
			conf := filepath.Join(t.TempDir(), "zeo.conf")
			os.WriteFile(conf, []byte("<zeo>\n address "+zsock+"\n metrics-address "+msock+"\n</zeo>\n<mappingstorage main/>\n"), 0o600)
			p := startRunzeo(t, nfy.path, "-C", conf)
			ready := notifyFields(nfy.next(t))
			if ready["READY"] != "1" || ready["MAINPID"] != strconv.Itoa(p.cmd.Process.Pid) || ready["STATUS"] != "serving on "+zsock {
				t.Fatalf("first notification %q, want READY=1, MAINPID=%d, STATUS=serving on %s", ready, p.cmd.Process.Pid, zsock)
			}
			// Ready means listening: a client connects at once.
			c, err := client.Dial(context.Background(), []string{zsock}, client.Options{Storage: "main", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatalf("client after READY=1: %v", err)
			}
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "unix", msock)
				}}}
			defer hc.CloseIdleConnections()
			m := scrape(t, hc, "http://runzeo")
			if v, ok := m[`zeo_connections{storage="main"}`]; !ok || v != 1 {
				t.Errorf("zeo_connections over the Unix metrics socket: %v (present %v), want 1", v, ok)
			}
			c.Close()
			hc.CloseIdleConnections()
			if code := p.stop(t, tc.sig); code != tc.code {
				t.Errorf("exit status %d after %v, want %d", code, tc.sig, tc.code)
			}
			stopping := notifyFields(nfy.next(t))
			if stopping["STOPPING"] != "1" {
				t.Errorf("notification after %v: %q, want STOPPING=1", tc.sig, stopping)
			}
			for _, s := range []string{msock, zsock} {
				if _, err := os.Lstat(s); err == nil {
					t.Errorf("%s left behind", s)
				}
			}
		})
	}
}

// runzeo --cpuprofile writes a CPU profile from start to exit:
// after SIGTERM the file is a gzipped pprof protobuf.
func TestCPUProfile(t *testing.T) {
	dir := t.TempDir()
	nfy := newFakeSystemd(t)
	zsock := nfy.path + ".zeo"
	prof := filepath.Join(dir, "cpu.pprof")
	p := startRunzeo(t, nfy.path, "-a", zsock, "-f", filepath.Join(dir, "Data.fs"), "--cpuprofile", prof)
	if m := notifyFields(nfy.next(t)); m["READY"] != "1" {
		t.Fatalf("first notification %q", m)
	}
	c, err := client.Dial(context.Background(), []string{zsock}, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Some work for the profiler to see.
	for range 200 {
		if _, err := c.LastTransaction(); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("profile of %d bytes does not start with the gzip magic: % x", len(b), b[:min(len(b), 8)])
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("profile is not complete gzip: %v", err)
	}
	// A Go CPU profile's string table names its sample types:
	// samples/count and cpu/nanoseconds.
	for _, want := range []string{"samples", "count", "cpu", "nanoseconds"} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("decompressed profile of %d bytes lacks the string %q", len(raw), want)
		}
	}
}
