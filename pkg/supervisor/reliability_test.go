package supervisor

import (
	"bytes"
	"context"
	"fmt"
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
	"github.com/zdkit/zdkit/pkg/control"
)

// stress reports whether the long variants run (make stress sets it).
func stress() bool { return os.Getenv("ZDKIT_STRESS") == "1" }

// zdrunRun runs the real zdrun command (this test binary acting as zdrun)
// in dir and returns its exit code, stdout and stderr. In daemon mode it
// returns once the first stage has (program started, or failure).
func zdrunRun(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Args[0] = "zdrun"
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), asZdrunEnv+"=1"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// managed is a zdrun daemon started by a test.
type managed struct {
	t    *testing.T
	dir  string
	sock string
}

// startZdrun starts a daemon zdrun with the given config body (inside
// <runner>, socket zs) and program script, waits for the program, and
// registers a cleanup that stops it (and kills whatever is left).
func startZdrun(t *testing.T, runnerBody, prog string, env ...string) *managed {
	t.Helper()
	dir := t.TempDir()
	m := &managed{t: t, dir: dir, sock: filepath.Join(dir, "zs")}
	if err := os.WriteFile(filepath.Join(dir, "prog.sh"), []byte("#!/bin/sh\n"+prog+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(runnerBody, "transcript") {
		runnerBody += "\n  transcript " + dir + "/transcript"
	}
	conf := fmt.Sprintf("<runner>\n  program %s/prog.sh\n  socket-name %s\n%s\n</runner>\n"+
		"<eventlog>\n  level debug\n  <logfile>\n    path %s/zdrun.log\n  </logfile>\n</eventlog>\n", dir, m.sock, runnerBody, dir)
	if err := os.WriteFile(filepath.Join(dir, "zd.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.cleanup)
	if code, out, errs := zdrunRun(t, dir, env, "-C", "zd.conf"); code != 0 {
		t.Fatalf("zdrun: exit %d\n%s%s\nlog:\n%s", code, out, errs, m.log())
	}
	return m
}

func (m *managed) log() string {
	data, _ := os.ReadFile(filepath.Join(m.dir, "zdrun.log"))
	return string(data)
}

func (m *managed) status() (control.Status, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return control.GetStatus(ctx, m.sock)
}

// waitApp waits for a running program whose pid is not old.
func (m *managed) waitApp(old int) control.Status {
	m.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if st, ok := m.status(); ok && st.Application != 0 && st.Application != old {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.t.Fatalf("no program (other than pid %d) within 15 s; log:\n%s", old, m.log())
	return control.Status{}
}

func (m *managed) cleanup() {
	// Under -race the daemon is this race-enabled binary too: a race it
	// hit is reported on its stderr, the transcript.
	defer func() {
		if data, _ := os.ReadFile(filepath.Join(m.dir, "transcript")); bytes.Contains(data, []byte("DATA RACE")) {
			m.t.Errorf("the zdrun daemon reported a data race:\n%s", data)
		}
	}()
	if st, ok := m.status(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		control.Call(ctx, m.sock, "stop")
		cancel()
		waitUntil(10*time.Second, func() bool { return !exists(m.sock) })
		if st.Application > 0 {
			syscall.Kill(-st.Application, syscall.SIGKILL)
		}
		if exists(m.sock) {
			syscall.Kill(st.Manager, syscall.SIGKILL)
		}
	}
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func waitUntil(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return f()
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitUntil(10*time.Second, func() bool {
		data, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil && pid > 0
	})
	if pid <= 0 {
		t.Fatalf("no pid in %s", path)
	}
	return pid
}

// TestConcurrentStatus200: 200 concurrent status calls against one zdrun
// are all answered correctly (monitoring scripts poll in parallel).
func TestConcurrentStatus200(t *testing.T) {
	m := startZdrun(t, "", "exec sleep 100")
	want := m.waitApp(0)
	n := 200
	if stress() {
		n = 2000
	}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			st, ok := m.status()
			if !ok || st.Application != want.Application || st.Manager != want.Manager || !st.Running || len(st.Args) != 1 {
				errs <- fmt.Sprintf("call %d: ok=%v %+v", i, ok, st)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	bad := 0
	for e := range errs {
		if bad++; bad <= 5 {
			t.Error(e)
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d status calls failed", bad, n)
	}
}

// TestZdrunKilledProgramStillRunning: zdrun SIGKILLed while its program
// runs; a new zdrun must not start a second copy.
func TestZdrunKilledProgramStillRunning(t *testing.T) {
	m := startZdrun(t, "", "echo $$ >> "+"spawns\nexec sleep 100")
	st := m.waitApp(0)
	t.Cleanup(func() { syscall.Kill(-st.Application, syscall.SIGKILL) })
	state := StateFileFor(m.sock)
	data, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(data), fmt.Sprintf("pid=%d\n", st.Application)) {
		t.Fatalf("state file: %v %q", err, data)
	}
	syscall.Kill(st.Manager, syscall.SIGKILL)
	if !waitUntil(5*time.Second, func() bool { return !alive(st.Manager) }) {
		t.Fatal("manager survived SIGKILL")
	}
	if !alive(st.Application) {
		t.Fatal("program died with its manager (test premise)")
	}
	code, _, errs := zdrunRun(t, m.dir, nil, "-C", "zd.conf")
	wantMsg := fmt.Sprintf("the program started by an earlier zdrun (pid %d) is still running (recorded in %s); not starting a second copy. Stop it (kill -TERM -%d), then start zdrun again", st.Application, state, st.Application)
	if code != 1 || strings.TrimSpace(errs) != wantMsg {
		t.Fatalf("second zdrun: exit %d, stderr %q; want 1, %q", code, errs, wantMsg)
	}
	if _, ok := m.status(); ok {
		t.Fatal("a manager answers after the refusal")
	}
	if exists(m.sock) {
		t.Error("the refusing zdrun left its socket behind")
	}
	if !strings.Contains(m.log(), "CRITICAL root "+wantMsg) {
		t.Errorf("refusal not logged:\n%s", m.log())
	}
	if !alive(st.Application) {
		t.Error("the refusing zdrun touched the old program")
	}
	// Once the old program is gone, zdrun starts normally and says why
	// the state file was there.
	syscall.Kill(-st.Application, syscall.SIGKILL)
	waitUntil(5*time.Second, func() bool { return !alive(st.Application) })
	if code, out, errs := zdrunRun(t, m.dir, nil, "-C", "zd.conf"); code != 0 {
		t.Fatalf("zdrun after the old program ended: %d %s%s", code, out, errs)
	}
	st2 := m.waitApp(st.Application)
	if !strings.Contains(m.log(), "WARNING root removed stale state file "+state) {
		t.Errorf("no stale-state warning:\n%s", m.log())
	}
	spawns, _ := os.ReadFile(filepath.Join(m.dir, "spawns"))
	if got := strings.Fields(string(spawns)); len(got) != 2 || got[1] != strconv.Itoa(st2.Application) {
		t.Errorf("spawns %q, want the two copies, one after the other", got)
	}
	// A clean stop removes the state file.
	control.Call(context.Background(), m.sock, "stop")
	waitUntil(10*time.Second, func() bool { return !exists(m.sock) })
	if exists(state) {
		t.Error("state file left after stop")
	}
}

// TestZdrunKilledGroupRemnants: the old program is gone but a process it
// forked still runs in its group: still no second copy.
func TestZdrunKilledGroupRemnants(t *testing.T) {
	m := startZdrun(t, "", "sleep 100 &\necho $! > child\nexec sleep 100")
	st := m.waitApp(0)
	t.Cleanup(func() { syscall.Kill(-st.Application, syscall.SIGKILL) })
	child := readPid(t, filepath.Join(m.dir, "child"))
	syscall.Kill(st.Manager, syscall.SIGKILL)
	waitUntil(5*time.Second, func() bool { return !alive(st.Manager) })
	syscall.Kill(st.Application, syscall.SIGKILL) // the leader only
	waitUntil(5*time.Second, func() bool { return !alive(st.Application) })
	code, _, errs := zdrunRun(t, m.dir, nil, "-C", "zd.conf")
	want := fmt.Sprintf("processes of the program started by an earlier zdrun are still running in its process group %d (pids %d)", st.Application, child)
	if code != 1 || !strings.HasPrefix(errs, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errs, want)
	}
	if !alive(child) {
		t.Error("the refusing zdrun killed the remnant")
	}
}

// TestGrandchildrenAndTERM: a program that forks a grandchild (which
// ignores SIGTERM) and dies is restarted; the grandchild is killed with
// its group, and stop kills the group of the running copy too.
func TestGrandchildrenAndTERM(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, `cd `+dir+`
n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count
sh -c 'trap "" TERM; exec sleep 1000' &
echo $! > gc$n
[ $n = 1 ] && exit 1
exec sleep 1000`)
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 1, Forever: true, StopTimeout: 30 * time.Second})
	gc1 := readPid(t, filepath.Join(dir, "gc1"))
	first := r.waitPid(t, 0, 10*time.Second)
	_ = first
	gc2 := readPid(t, filepath.Join(dir, "gc2"))
	st := r.status(t)
	if st.Application == 0 || !alive(st.Application) {
		t.Fatalf("second copy not running: %+v", st)
	}
	if !waitUntil(5*time.Second, func() bool { return !alive(gc1) }) {
		t.Error("the first copy's grandchild survived its program's exit")
	}
	if got := r.s.Handle("stop"); got != "Sent SIGTERM" {
		t.Fatalf("stop: %q", got)
	}
	// The program dies of SIGTERM; the grandchild ignores it and is
	// killed as a remnant at once, well before the 30 s stop-timeout.
	res := r.wait(t, 10*time.Second)
	if res.Code != 0 {
		t.Errorf("result %+v", res)
	}
	if !waitUntil(5*time.Second, func() bool { return !alive(gc2) }) {
		t.Error("stop left the TERM-ignoring grandchild running")
	}
}

// TestFloodStdout: a program writing as fast as it can; the transcript
// gets every byte and zdrun answers status meanwhile.
func TestFloodStdout(t *testing.T) {
	mb := 16
	if stress() {
		mb = 256
	}
	m := startZdrun(t, "", fmt.Sprintf("head -c %d /dev/zero\necho flood-done\nexec sleep 100", mb<<20))
	tr := filepath.Join(m.dir, "transcript")
	calls, worst := 0, time.Duration(0)
	want := int64(mb<<20) + int64(len("flood-done\n"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		t0 := time.Now()
		st, ok := m.status()
		if d := time.Since(t0); d > worst {
			worst = d
		}
		calls++
		if !ok {
			t.Fatalf("status call %d not answered during the flood", calls)
		}
		fi, err := os.Stat(tr)
		if err == nil && fi.Size() >= want && st.Application != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transcript has %v bytes after 60 s, want %d", fi.Size(), want)
		}
		time.Sleep(time.Millisecond)
	}
	data, _ := os.ReadFile(tr)
	if !bytes.HasSuffix(data, []byte("flood-done\n")) || bytes.Count(data, []byte{0}) != mb<<20 {
		t.Errorf("transcript: %d bytes, %d zeros, tail %q", len(data), bytes.Count(data, []byte{0}), data[max(len(data)-20, 0):])
	}
	t.Logf("%d MiB flood: %d status calls answered during it, slowest %v", mb, calls, worst)
}

// TestFloodResponsive: a program writing without end; zdrun answers 200
// status calls meanwhile and the program's output keeps flowing (its write
// count grows: it is not blocked on a full pipe).
func TestFloodResponsive(t *testing.T) {
	m := startZdrun(t, "  transcript /dev/null", "exec cat /dev/zero")
	st := m.waitApp(0)
	wchar := func() int64 {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", st.Application))
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "wchar: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	w0 := wchar()
	worst := time.Duration(0)
	for i := range 200 {
		t0 := time.Now()
		st2, ok := m.status()
		worst = max(worst, time.Since(t0))
		if !ok || st2.Application != st.Application {
			t.Fatalf("status call %d during the flood: %v %+v", i, ok, st2)
		}
	}
	w1 := wchar()
	if w0 < 0 || w1 <= w0 {
		t.Errorf("the program's output stopped flowing: wchar %d then %d", w0, w1)
	}
	t.Logf("200 status calls during the flood, slowest %v; the program wrote %d MiB meanwhile", worst, (w1-w0)>>20)
}

// TestTranscriptDiskFull: with the transcript on a full device the
// program never blocks, and zdrun keeps answering.
func TestTranscriptDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	dir := t.TempDir()
	prog := fmt.Sprintf("head -c %d /dev/zero\ntouch %s/done\nexec sleep 100", 8<<20, dir)
	m := startZdrun(t, "  transcript /dev/full", prog, MetricsEnv+"=127.0.0.1:0")
	if !waitUntil(30*time.Second, func() bool { return exists(filepath.Join(dir, "done")) }) {
		t.Fatal("the program blocked writing to a transcript on a full disk")
	}
	if st, ok := m.status(); !ok || st.Application == 0 {
		t.Fatalf("status after the writes: %v %+v", ok, st)
	}
	// The operator hears of it: one event-log line, and a counter.
	if c := strings.Count(m.log(), "ERROR root can't write the transcript /dev/full: write /dev/full: no space left on device; dropping output until it can be written"); c != 1 {
		t.Errorf("%d drop messages in the log, want 1:\n%s", c, m.log())
	}
	if v := metricValue(t, scrape(t, m), "zdrun_transcript_dropped_bytes_total"); v < 8<<20 {
		t.Errorf("dropped bytes %v, want at least the program's 8 MiB", v)
	}
}

// TestCrashLoop: a program that always crashes, under forever with
// backoff-limit 1, is restarted every time with nothing lost: every exit
// is seen (metrics), no zombie is left, the manager keeps answering.
// 100 crashes under ZDKIT_STRESS=1 (about 100 s: one second apart), 3
// otherwise.
func TestCrashLoop(t *testing.T) {
	n := 3
	if stress() {
		n = 100
	}
	m := startZdrun(t, "  forever on\n  backoff-limit 1\n  start-timeout 1", "echo x >> spawns\nexit 7", MetricsEnv+"=127.0.0.1:0")
	spawns := filepath.Join(m.dir, "spawns")
	countSpawns := func() int { d, _ := os.ReadFile(spawns); return strings.Count(string(d), "x") }
	if !waitUntil(time.Duration(n+15)*time.Second, func() bool { return countSpawns() >= n }) {
		t.Fatalf("%d spawns after %d s, want %d", countSpawns(), n+15, n)
	}
	st, ok := m.status()
	// backoff is 1 after a quick crash (0 if a loaded machine let one
	// copy live a whole second).
	if !ok || st.ShouldBeUp != 1 || st.Backoff > 1 {
		t.Fatalf("status after %d crashes: %v %+v", n, ok, st)
	}
	if z := zombiesOf(st.Manager); len(z) > 0 {
		t.Errorf("zombie children of zdrun: %v", z)
	}
	got := scrape(t, m)
	if v := metricValue(t, got, "zdrun_last_exit_status"); v != 7 {
		t.Errorf("last exit status %v, want 7", v)
	}
	if v := metricValue(t, got, "zdrun_restarts_total"); int(v) < n-1 {
		t.Errorf("restarts %v after %d spawns", v, n)
	}
	if c := strings.Count(m.log(), ": exit status 7\n"); c < n-1 {
		t.Errorf("%d exits logged for %d spawns", c, n)
	}
}

func zombiesOf(ppid int) []int {
	var z []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(ppid) {
			z = append(z, pid)
		}
	}
	return z
}

var metricsAddrRE = regexp.MustCompile(`serving metrics on http://(\S+)/metrics`)

func scrape(t *testing.T, m *managed) string {
	t.Helper()
	sub := metricsAddrRE.FindStringSubmatch(m.log())
	if sub == nil {
		t.Fatalf("no metrics address in the log:\n%s", m.log())
	}
	resp, err := http.Get("http://" + sub[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %s", resp.Status)
	}
	return string(body)
}

func metricValue(t *testing.T, expo, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(expo, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: bad value %q", name, v)
			}
			return f
		}
	}
	t.Fatalf("no %s in\n%s", name, expo)
	return 0
}

// TestMetricsMoveOnKill9 scrapes zdrun's metrics endpoint: restarts
// and the last exit status move after a kill -9 of the program.
func TestMetricsMoveOnKill9(t *testing.T) {
	dir := t.TempDir()
	// A port chosen by the kernel, through the flag.
	m := &managed{t: t, dir: dir, sock: filepath.Join(dir, "zs")}
	os.WriteFile(filepath.Join(dir, "prog.sh"), []byte("#!/bin/sh\nexec sleep 100\n"), 0o755)
	t.Cleanup(m.cleanup)
	code, out, errs := zdrunRun(t, dir, nil, "-s", m.sock, "-b", "1", "-f", "--metrics-address", "127.0.0.1:0", "-t", "transcript", "./prog.sh")
	if code != 0 {
		t.Fatalf("zdrun: %d %s%s", code, out, errs)
	}
	st := m.waitApp(0)
	// Without an event log the address is only in the transcript (stderr
	// gets WARNING and above): find it through the process's sockets.
	addr := listenAddrOf(t, st.Manager)
	get := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	before := get()
	// Every query of the Grafana dashboard names a metric zdrun exports.
	if missing, err := dashboards.Missing("zdrun_", before); err != nil || len(missing) > 0 {
		t.Errorf("dashboards/zdkit.json queries metrics zdrun does not export: %v %v", missing, err)
	}
	for name, want := range map[string]float64{"zdrun_program_up": 1, "zdrun_should_be_up": 1, "zdrun_restarts_total": 0, "zdrun_last_exit_status": 0, "zdrun_backoff_seconds": 0} {
		if v := metricValue(t, before, name); v != want {
			t.Errorf("before: %s = %v, want %v", name, v, want)
		}
	}
	syscall.Kill(st.Application, syscall.SIGKILL)
	m.waitApp(st.Application)
	after := get()
	for name, want := range map[string]float64{"zdrun_program_up": 1, "zdrun_restarts_total": 1, "zdrun_spawns_total": 2, "zdrun_last_exit_status": -9} {
		if v := metricValue(t, after, name); v != want {
			t.Errorf("after kill -9: %s = %v, want %v\n%s", name, v, want, after)
		}
	}
}

// listenAddrOf finds the loopback TCP port a process listens on, from
// /proc/net/tcp and the process's socket inodes.
func listenAddrOf(t *testing.T, pid int) string {
	t.Helper()
	var addr string
	waitUntil(5*time.Second, func() bool {
		inodes := map[string]bool{}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				inodes[strings.TrimSuffix(ino, "]")] = true
			}
		}
		data, _ := os.ReadFile("/proc/net/tcp")
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A: LISTEN
				hp := strings.Split(f[1], ":")
				port, _ := strconv.ParseUint(hp[1], 16, 16)
				addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
				return true
			}
		}
		return false
	})
	if addr == "" {
		t.Fatalf("process %d listens on no TCP port", pid)
	}
	return addr
}
