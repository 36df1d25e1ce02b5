package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/control"
)

// script writes a /bin/sh script into a temp dir and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "prog.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type running struct {
	s      *Supervisor
	cancel context.CancelFunc
	res    chan Result
	mu     sync.Mutex
	starts []int
}

// run starts a Supervisor; cleanup stops it (ctx cancel = SIGTERM path)
// and waits for Run to return, so no process outlives the test.
func run(t *testing.T, cfg Config) *running {
	t.Helper()
	r := &running{res: make(chan Result, 1)}
	user := cfg.Started
	cfg.Started = func(pid int) {
		r.mu.Lock()
		r.starts = append(r.starts, pid)
		r.mu.Unlock()
		if user != nil {
			user(pid)
		}
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 2 * time.Second
	}
	if cfg.Filename == "" {
		cfg.Filename = cfg.Program[0]
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.s, r.cancel = s, cancel
	go func() { r.res <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.res:
		case <-time.After(20 * time.Second):
			t.Error("supervisor did not stop")
		}
	})
	return r
}

func (r *running) wait(t *testing.T, d time.Duration) Result {
	t.Helper()
	select {
	case res := <-r.res:
		r.res <- res // for the cleanup
		return res
	case <-time.After(d):
		t.Fatalf("supervisor still running after %v", d)
	}
	return Result{}
}

func (r *running) status(t *testing.T) control.Status {
	t.Helper()
	st, ok := control.ParseStatus(r.s.Handle("status"))
	if !ok {
		t.Fatal("status reply not parsable")
	}
	return st
}

// waitPid polls the status until the program runs with a pid other than old.
func (r *running) waitPid(t *testing.T, old int, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if st := r.status(t); st.Application != 0 && st.Application != old {
			return st.Application
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no new program pid (old %d) within %v", old, d)
	return 0
}

func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// A zombie is not alive (and would be a reaping bug).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestStatusOverSocket(t *testing.T) {
	prog := script(t, "exec sleep 100")
	r := run(t, Config{Program: []string{prog, "a b", "it's"}, BackoffLimit: 10, ExitCodes: []int{0, 2}})
	pid := r.waitPid(t, 0, 5*time.Second)

	sock := filepath.Join(t.TempDir(), "zdsock")
	l, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go l.Serve(r.s.Handle)
	defer l.Close()
	reply, err := control.Call(context.Background(), sock, "status")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(reply, "\n"), "\n")
	keys := []string{"status", "now", "should_be_up", "delay", "backoff", "lasttime", "application", "testing", "manager", "backofflimit", "filename", "args"}
	if len(lines) != len(keys) {
		t.Fatalf("status has %d lines, want 12:\n%s", len(lines), reply)
	}
	vals := map[string]string{}
	for i, k := range keys {
		key, val, ok := strings.Cut(lines[i], "=")
		if !ok || key != k {
			t.Fatalf("line %d = %q, want key %q", i+1, lines[i], k)
		}
		vals[k] = val
	}
	want := map[string]string{
		"status": "running", "should_be_up": "1", "delay": "0", "backoff": "0",
		"application": strconv.Itoa(pid), "testing": "0", "manager": strconv.Itoa(os.Getpid()),
		"backofflimit": "10", "filename": "'" + prog + "'",
		"args": "['" + prog + `', 'a b', "it's"]`,
	}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s=%s, want %s", k, vals[k], v)
		}
	}
	now, _ := strconv.ParseFloat(vals["now"], 64)
	last, _ := strconv.ParseFloat(vals["lasttime"], 64)
	if d := float64(time.Now().UnixNano())/1e9 - now; d < 0 || d > 5 || last > now || last < now-10 {
		t.Errorf("now=%s lasttime=%s not plausible", vals["now"], vals["lasttime"])
	}
	// The other commands' replies.
	for _, c := range []struct{ cmd, want string }{
		{"start", "Application already started\n"},
		{"kill notanumber", "Bad signal 'notanumber'\n"},
		{"kill 0", "Signal 0 sent\n"},
		{"kill -5", "Kill -5 failed: [Errno 22] Invalid argument\n"},
		{"bogus", "Unknown command 'bogus'; 'help' for a list\n"},
		{"reopen_transcript", ""},
	} {
		got, err := control.Call(context.Background(), sock, c.cmd)
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.cmd, got, err, c.want)
		}
	}
	help, _ := control.Call(context.Background(), sock, "help")
	for _, w := range []string{"status", "start", "stop", "restart", "kill", "reopen_transcript", "exit"} {
		if !strings.Contains(help, "\n"+w+" ") {
			t.Errorf("help does not list %s:\n%s", w, help)
		}
	}
	if got, _ := control.Call(context.Background(), sock, "exit"); got != "Sent SIGTERM; will exit later\n" {
		t.Errorf("exit: %q", got)
	}
	res := r.wait(t, 5*time.Second)
	if res.Code != 0 || alive(pid) {
		t.Errorf("after stop: %+v, program alive=%v", res, alive(pid))
	}
}

// spawnLog is a program that appends its start time to a file, then runs body.
func spawnLog(t *testing.T, body string) (prog, log string) {
	log = filepath.Join(t.TempDir(), "spawns")
	prog = script(t, `date +%s.%N >> `+log+"\n"+body)
	return prog, log
}

func spawnTimes(t *testing.T, log string) []float64 {
	t.Helper()
	data, _ := os.ReadFile(log)
	var out []float64
	for _, l := range strings.Fields(string(data)) {
		f, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatalf("bad line %q in spawn log", l)
		}
		out = append(out, f)
	}
	return out
}

func TestBackoffGivesUp(t *testing.T) {
	prog, log := spawnLog(t, "exit 1")
	start := time.Now()
	// A generous settle time: on a loaded machine even "exit 1" can take
	// more than the default 50 ms to run.
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 3, ExitCodes: []int{0, 2}, SettleTime: 900 * time.Millisecond})
	res := r.wait(t, 15*time.Second)
	if res.Code != 1 || res.Reason != "restarting too frequently; quit" || res.EverStarted {
		t.Errorf("result %+v", res)
	}
	ts := spawnTimes(t, log)
	// limit 3: spawned exactly 3 times, pauses of 1 s then 2 s.
	if len(ts) != 3 {
		t.Fatalf("%d spawns, want 3", len(ts))
	}
	for i, want := range []float64{1, 2} {
		if gap := ts[i+1] - ts[i]; gap < want-0.05 || gap > want+1 {
			t.Errorf("pause %d = %.3fs, want ~%vs", i+1, gap, want)
		}
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Errorf("gave up after %v, want ~3s", d)
	}
}

func TestForever(t *testing.T) {
	prog, log := spawnLog(t, "exit 1")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 2, Forever: true, ExitCodes: []int{0, 2}})
	// pauses 1, 2, 2, ...: spawns at ~0, 1, 3, 5 s.
	var ts []float64
	for deadline := time.Now().Add(12 * time.Second); len(ts) < 4 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		ts = spawnTimes(t, log)
	}
	if len(ts) != 4 {
		t.Fatalf("%d spawns, want 4 (%v)", len(ts), ts)
	}
	for i, want := range []float64{1, 2, 2} {
		// Generous upper bound: the machine may be loaded.
		if gap := ts[i+1] - ts[i]; gap < want-0.05 || gap > want+1 {
			t.Errorf("pause %d = %.3fs, want ~%vs", i+1, gap, want)
		}
	}
	// Let the 4th spawn crash: the delay is clamped at the limit.
	time.Sleep(300 * time.Millisecond)
	st := r.status(t)
	if st.Backoff != 2 || st.ShouldBeUp != 1 {
		t.Errorf("status after 4 crashes: backoff=%d should_be_up=%d", st.Backoff, st.ShouldBeUp)
	}
	// stop cancels the pending respawn (zdaemon issue #13).
	if got := r.s.Handle("stop"); got != "Application already stopped" {
		t.Errorf("stop during respawn delay: %q", got)
	}
	if res := r.wait(t, 5*time.Second); res.Code != 0 {
		t.Errorf("result %+v", res)
	}
}

func TestExitCodes(t *testing.T) {
	prog, log := spawnLog(t, "exit 3")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, ExitCodes: []int{3}})
	res := r.wait(t, 5*time.Second)
	if res.Code != 3 || !strings.HasSuffix(res.Reason, ": exit status 3; exiting now") {
		t.Errorf("result %+v", res)
	}
	if n := len(spawnTimes(t, log)); n != 1 {
		t.Errorf("%d spawns, want 1", n)
	}
}

func TestStopEscalation(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "child")
	// The program ignores SIGTERM; so does its child (ignored signals are
	// inherited), which shows the whole group gets the SIGKILL.
	prog := script(t, "trap '' TERM\nsleep 100 &\necho $! > "+pidfile+"\nwait")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, StopTimeout: 400 * time.Millisecond})
	pid := r.waitPid(t, 0, 5*time.Second)
	var child int
	for i := 0; i < 500 && child == 0; i++ {
		data, _ := os.ReadFile(pidfile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	if got := r.s.Handle("stop"); got != "Sent SIGTERM" {
		t.Fatalf("stop: %q", got)
	}
	time.Sleep(200 * time.Millisecond)
	if !alive(pid) {
		t.Fatal("program died of SIGTERM although it ignores it")
	}
	res := r.wait(t, 5*time.Second)
	if d := time.Since(start); d < 400*time.Millisecond || d > 3*time.Second {
		t.Errorf("stopped after %v, want ~400ms (stop-timeout)", d)
	}
	if res.Code != 0 || alive(pid) {
		t.Errorf("result %+v, program alive=%v", res, alive(pid))
	}
	for i := 0; i < 200 && alive(child); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if child == 0 || alive(child) {
		t.Errorf("program's child %d survived the group SIGKILL", child)
	}
}

func TestShutdownStopsProgram(t *testing.T) {
	// ctx cancellation takes the SIGTERM path: stop the program, exit 1.
	prog := script(t, "exec sleep 100")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10})
	pid := r.waitPid(t, 0, 5*time.Second)
	r.cancel()
	res := r.wait(t, 5*time.Second)
	if res.Code != 1 || res.Reason != "daemon manager killed by SIGTERM" {
		t.Errorf("result %+v", res)
	}
	if alive(pid) {
		t.Errorf("program %d still alive after zdrun stopped", pid)
	}
}

func TestKill9Respawn(t *testing.T) {
	prog := script(t, "exec sleep 100")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 1})
	pid := r.waitPid(t, 0, 5*time.Second)
	time.Sleep(1100 * time.Millisecond) // a long run for backoff-limit 1
	syscall.Kill(pid, syscall.SIGKILL)
	pid2 := r.waitPid(t, pid, 5*time.Second)
	// A crash after a long run resets the backoff and restarts at once
	// (no delay was armed); the speed itself is BenchmarkRespawnAfterKill9.
	if st := r.status(t); st.Backoff != 0 || st.Delay != 0 {
		t.Errorf("after a long run: backoff=%d delay=%v, want an immediate restart", st.Backoff, st.Delay)
	}
	// A second kill within backoff-limit is a quick crash: with limit 1
	// zdrun gives up (zdaemon 5.2.1 Daemonizer.governor).
	syscall.Kill(pid2, syscall.SIGKILL)
	if res := r.wait(t, 5*time.Second); res.Code != 1 || res.Reason != "restarting too frequently; quit" {
		t.Errorf("result %+v", res)
	}
}

func TestRestart(t *testing.T) {
	prog := script(t, "exec sleep 100")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10})
	pid := r.waitPid(t, 0, 5*time.Second)
	if got := r.s.Handle("restart"); got != "Sent SIGTERM; will restart later" {
		t.Errorf("restart: %q", got)
	}
	pid2 := r.waitPid(t, pid, 5*time.Second)
	if alive(pid) || pid2 == pid {
		t.Errorf("old program %d alive after restart", pid)
	}
	if st := r.status(t); st.Backoff != 0 || st.Delay != 0 {
		t.Errorf("restart counted as a crash: %+v", st)
	}
}

func TestSettleAndStartTest(t *testing.T) {
	t.Run("settle", func(t *testing.T) {
		prog := script(t, "exec sleep 100")
		r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, SettleTime: 100 * time.Millisecond})
		pid := r.waitPid(t, 0, 5*time.Second)
		time.Sleep(400 * time.Millisecond)
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.starts) != 1 || r.starts[0] != pid {
			t.Errorf("Started calls %v, want [%d]", r.starts, pid)
		}
	})
	t.Run("start-test", func(t *testing.T) {
		flag := filepath.Join(t.TempDir(), "ready")
		prog := script(t, "sleep 1\ntouch "+flag+"\nexec sleep 100")
		r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, SettleTime: 10 * time.Millisecond,
			StartTest: []string{"test", "-f", flag}})
		pid := r.waitPid(t, 0, 5*time.Second)
		if st := r.status(t); st.Testing != 1 {
			t.Errorf("testing=%d while the test fails, want 1", st.Testing)
		}
		deadline := time.Now().Add(5 * time.Second)
		for r.status(t).Testing == 1 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.starts) != 1 || r.starts[0] != pid {
			t.Errorf("Started calls %v, want [%d] once the test passed", r.starts, pid)
		}
	})
}

func TestExecFailure(t *testing.T) {
	r := run(t, Config{Program: []string{"nope"}, Filename: filepath.Join(t.TempDir(), "missing"), BackoffLimit: 10})
	res := r.wait(t, 5*time.Second)
	if res.Code != 1 || !strings.Contains(res.Reason, "can't exec") || !strings.Contains(res.Reason, "[Errno 2] No such file or directory") {
		t.Errorf("result %+v", res)
	}
}

func TestTranscriptReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "transcript.log")
	tr, err := OpenTranscript(path)
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	prog := script(t, "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.02; done")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, Stdout: tr.Writer(), Stderr: tr.Writer(), Reopen: tr.Reopen})
	r.waitPid(t, 0, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if got := r.s.Handle("reopen_transcript"); got != "" {
		t.Errorf("reopen_transcript reply %q, want empty", got)
	}
	time.Sleep(300 * time.Millisecond)
	r.cancel()
	r.wait(t, 5*time.Second)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(old), "line 1\n") || !strings.Contains(string(cur), "line ") {
		t.Fatalf("old file %q..., new file %q...", head(old), head(cur))
	}
	// Nothing lost or duplicated across the swap.
	all := strings.Fields(strings.ReplaceAll(string(old)+string(cur), "line", ""))
	for i, f := range all {
		if f != strconv.Itoa(i+1) {
			t.Fatalf("line %d is %q: lines lost or reordered across the reopen", i+1, f)
		}
	}
}

func head(b []byte) string { return string(b[:min(len(b), 40)]) }

func TestTranscriptFullDisk(t *testing.T) {
	// /dev/full fails every write with ENOSPC: the copier must keep
	// draining the pipe so the writer never blocks.
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	tr, err := OpenTranscript("/dev/full")
	if err != nil {
		t.Fatal(err)
	}
	tr.Start()
	defer tr.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64*1024)
		for i := 0; i < 64; i++ { // 4 MiB, far more than a pipe holds
			if _, err := tr.Writer().Write(buf); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked on a transcript that cannot be written")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.dropped == 0 || !errors.Is(tr.lastErr, syscall.ENOSPC) {
		t.Errorf("dropped=%d lastErr=%v, want ENOSPC drops counted", tr.dropped, tr.lastErr)
	}
}

func TestBackoffLimitZeroClamped(t *testing.T) {
	// zdrun busy-looped with backoff-limit 0 (zdaemon fault 17): it acts as 1, so
	// a quick crash makes it give up instead of respawning in a loop.
	prog, log := spawnLog(t, "exit 1")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 0})
	if st := r.status(t); st.BackoffLimit != 1 {
		t.Errorf("backofflimit=%d, want 1", st.BackoffLimit)
	}
	res := r.wait(t, 5*time.Second)
	if res.Code != 1 || res.Reason != "restarting too frequently; quit" {
		t.Errorf("result %+v", res)
	}
	if n := len(spawnTimes(t, log)); n != 1 {
		t.Errorf("%d spawns, want 1", n)
	}
}

func TestCommandsWhileNotRunning(t *testing.T) {
	prog, _ := spawnLog(t, "exit 1")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, Forever: true})
	// Wait for the first crash: a respawn is then pending for 1 s.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if st := r.status(t); st.Backoff == 1 && st.Application == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := r.status(t)
	if st.Running || st.Delay == 0 || st.ShouldBeUp != 1 {
		t.Fatalf("status during the respawn delay: %+v", st)
	}
	if got := r.s.Handle("kill 10"); got != "Application not running" {
		t.Errorf("kill: %q", got)
	}
	if got := r.s.Handle("stop"); got != "Application already stopped" {
		t.Errorf("stop: %q", got)
	}
	if res := r.wait(t, 5*time.Second); res.Code != 0 {
		t.Errorf("result %+v", res)
	}
}
