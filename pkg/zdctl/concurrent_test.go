package zdctl_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// TestConcurrentStatusProcesses: 200 "zdctl status" processes started at
// once against one zdrun are all answered correctly. zdaemon's
// zdrun had a listen backlog of 1 and answered a second connection with
// "Command superseded by new command", so concurrent callers were told
// the manager was down.
func TestConcurrentStatusProcesses(t *testing.T) {
	bin := zdrunBinary(t)
	zdctl := filepath.Join(bin, "zdctl-static")
	if _, err := os.Stat(zdctl); err != nil {
		// A plain (not race-instrumented) build, as users run it, so 200
		// copies fit on a small machine.
		cmd := exec.Command("go", "build", "-o", zdctl, "github.com/zdkit/zdkit/cmd/zdctl")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build zdctl: %v\n%s", err, out)
		}
	}
	// zdctl finds zdrun next to itself.
	dir := t.TempDir()
	zdctlCmd := func(args ...string) (string, int) {
		cmd := exec.Command(zdctl, append([]string{"-p", "sleep 1000", "-s", filepath.Join(dir, "zdsock")}, args...)...)
		cmd.Dir = dir
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := zdctlCmd("start"); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, out)
	}
	t.Cleanup(func() {
		if out, code := zdctlCmd("stop"); code != 0 {
			t.Errorf("stop: exit %d\n%s", code, out)
		}
	})
	first, code := zdctlCmd("status")
	m := regexp.MustCompile(`^program running; pid=(\d+)\n$`).FindStringSubmatch(first)
	if code != 0 || m == nil {
		t.Fatalf("status: exit %d, %q", code, first)
	}
	want := fmt.Sprintf("program running; pid=%s\n", m[1])

	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	type result struct {
		out  string
		code int
	}
	results := make([]result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out, code := zdctlCmd("status")
			results[i] = result{out, code}
		}()
	}
	close(start)
	wg.Wait()
	bad := 0
	for i, r := range results {
		if r.out != want || r.code != 0 {
			bad++
			if bad <= 5 {
				t.Errorf("status call %d: exit %d, %q; want exit 0, %q", i, r.code, r.out, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d concurrent status calls were answered wrongly", bad, n)
	}
}
