package zdctl_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// benchEnv builds zdctl next to zdrun and runs the benchmarks' commands
// in a fresh directory.
func benchEnv(b *testing.B) (zdctl string, dir string) {
	bin := zdrunBinary(b)
	zdctl = filepath.Join(bin, "zdctl")
	if _, err := os.Stat(zdctl); err != nil {
		// Static, as the Makefile builds it: a dynamically linked
		// binary spends a good part of a one-shot run in the loader.
		cmd := exec.Command("go", "build", "-o", bin, "github.com/zdkit/zdkit/cmd/zdctl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build zdctl: %v\n%s", err, out)
		}
	}
	return zdctl, b.TempDir()
}

func run(b *testing.B, dir, zdctl string, args ...string) time.Duration {
	cmd := exec.Command(zdctl, args...)
	cmd.Dir = dir
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(t0)
	if err != nil && cmd.ProcessState.ExitCode() != 3 {
		b.Fatalf("zdctl %v: %v\n%s", args, err, out)
	}
	return d
}

func reportMedian(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
}

// BenchmarkStatusOneShot is the wall time of one "zdctl status" process
// against a running zdrun (Python zdaemon: 51 ms).
func BenchmarkStatusOneShot(b *testing.B) {
	zdctl, dir := benchEnv(b)
	run(b, dir, zdctl, "-p", "sleep 1000", "start")
	b.Cleanup(func() { run(b, dir, zdctl, "-p", "sleep 1000", "stop") })
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, run(b, dir, zdctl, "-p", "sleep 1000", "status"))
	}
	b.StopTimer()
	reportMedian(b, ds)
}

// BenchmarkStatusConfigOneShot is the same with the settings in a
// configuration file, as bin/zeoctl runs it ("zdctl -C zeoctl.conf").
func BenchmarkStatusConfigOneShot(b *testing.B) {
	zdctl, dir := benchEnv(b)
	conf := filepath.Join(dir, "zd.conf")
	if err := os.WriteFile(conf, []byte("<runner>\n  program sleep 1000\n</runner>\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	run(b, dir, zdctl, "-C", conf, "start")
	b.Cleanup(func() { run(b, dir, zdctl, "-C", conf, "stop") })
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, run(b, dir, zdctl, "-C", conf, "status"))
	}
	b.StopTimer()
	reportMedian(b, ds)
}

// BenchmarkStart is how long "zdctl start" takes to return with no
// start-test-program, settle time included (Python zdaemon: 1.06 s).
func BenchmarkStart(b *testing.B) {
	zdctl, dir := benchEnv(b)
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ds = append(ds, run(b, dir, zdctl, "-p", "sleep 1000", "start"))
		b.StopTimer()
		run(b, dir, zdctl, "-p", "sleep 1000", "stop")
		b.StartTimer()
	}
	b.StopTimer()
	reportMedian(b, ds)
}
