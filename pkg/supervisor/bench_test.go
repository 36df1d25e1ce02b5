package supervisor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/control"
)

// buildZdrun builds the real cmd/zdrun (not the test binary, whose size
// and race runtime would distort the RSS figure).
func buildZdrun(b *testing.B, env ...string) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "zdrun")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/zdkit/zdkit/cmd/zdrun")
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Skipf("cannot build cmd/zdrun: %v\n%s", err, out)
	}
	return bin
}

func statusOf(b *testing.B, sock string) control.Status {
	st, ok := control.GetStatus(context.Background(), sock)
	if !ok {
		b.Fatal("manager not answering")
	}
	return st
}

// waitNewPid polls the status as fast as it can until the program runs
// with a pid other than old.
func waitNewPid(b *testing.B, sock string, old int) int {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, ok := control.GetStatus(context.Background(), sock); ok && st.Application != 0 && st.Application != old {
			return st.Application
		}
	}
	b.Fatal("program not respawned")
	return 0
}

func rssKiB(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(n)
		}
	}
	return 0
}

// BenchmarkZdrun measures the real binary: how long "zdrun prog" takes to
// return (daemonize, socket, spawn, 50 ms settle), and zdrun's resident
// memory while it manages a program (Python zdrun: 18.9 MiB).
//
// Sub-benchmarks: the default build (cgo on: os/user and net link libc,
// whose pages count too) and a static CGO_ENABLED=0 build.
func BenchmarkZdrun(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchZdrun(b, buildZdrun(b)) })
	b.Run("static", func(b *testing.B) { benchZdrun(b, buildZdrun(b, "CGO_ENABLED=0")) })
}

func benchZdrun(b *testing.B, bin string) {
	dir := b.TempDir()
	var rss float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sock := filepath.Join(dir, "zs")
		cmd := exec.Command(bin, "-s", sock, "sleep", "100")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("zdrun: %v\n%s", err, out)
		}
		b.StopTimer()
		st := statusOf(b, sock)
		// Let it settle into its steady state, then sample.
		time.Sleep(200 * time.Millisecond)
		rss = max(rss, rssKiB(st.Manager))
		control.Call(context.Background(), sock, "stop")
		for alive(st.Manager) {
			time.Sleep(5 * time.Millisecond)
		}
		b.StartTimer()
	}
	b.ReportMetric(rss/1024, "RSS-MiB")
}

// BenchmarkRespawnAfterKill9 measures the time from kill -9 of a program
// that has run longer than backoff-limit (so the policy says: restart at
// once) to the new program's pid showing in the status reply, with the
// real zdrun binary.
func BenchmarkRespawnAfterKill9(b *testing.B) {
	bin := buildZdrun(b)
	sock := filepath.Join(b.TempDir(), "zs")
	if out, err := exec.Command(bin, "-b", "1", "-s", sock, "sleep", "100").CombinedOutput(); err != nil {
		b.Fatalf("zdrun: %v\n%s", err, out)
	}
	st := statusOf(b, sock)
	b.Cleanup(func() {
		control.Call(context.Background(), sock, "stop")
		for alive(st.Manager) {
			time.Sleep(5 * time.Millisecond)
		}
	})
	pid := st.Application
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(1100 * time.Millisecond) // a long run for backoff-limit 1
		b.StartTimer()
		start := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		pid = waitNewPid(b, sock, pid)
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/respawn")
}
