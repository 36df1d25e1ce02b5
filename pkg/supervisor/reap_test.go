package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const prSetChildSubreaper = 36

// TestOrphansReapedStatusKept makes the test process a child subreaper, so
// the program's orphaned grandchild is re-parented to it, and checks that
// the one reaper collects the orphan (no zombie left) while the program's
// own exit status still reaches the restart policy (exit-codes 5 ends the
// run with code 5).
func TestOrphansReapedStatusKept(t *testing.T) {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", e)
	}
	orphanFile := filepath.Join(t.TempDir(), "orphan")
	// The subshell starts sleep in the background and exits, orphaning it;
	// the orphan ends before the program does.
	prog := script(t, "( sleep 0.2 & echo $! > "+orphanFile+" )\nsleep 0.6\nexit 5")
	r := run(t, Config{Program: []string{prog}, BackoffLimit: 10, ExitCodes: []int{5}, ReapOrphans: true})
	// While the orphan lives (its subshell parent exits at once), check it
	// was re-parented to us: then only our reaper can make it disappear.
	ppid := 0
	for i := 0; i < 100 && ppid != os.Getpid(); i++ {
		if data, err := os.ReadFile(orphanFile); err == nil {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid != 0 {
				st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
				for _, l := range strings.Split(string(st), "\n") {
					if v, ok := strings.CutPrefix(l, "PPid:"); ok {
						ppid, _ = strconv.Atoi(strings.TrimSpace(v))
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	if ppid != os.Getpid() {
		t.Errorf("orphan's parent is %d, want the test process %d", ppid, os.Getpid())
	}
	res := r.wait(t, 10*time.Second)
	if res.Code != 5 || !strings.HasSuffix(res.Reason, "exit status 5; exiting now") {
		t.Errorf("program status lost: result %+v", res)
	}
	data, err := os.ReadFile(orphanFile)
	if err != nil {
		t.Fatal(err)
	}
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if orphan == 0 {
		t.Fatal("no orphan pid recorded")
	}
	// The orphan must be gone entirely: neither running nor a zombie.
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := os.Stat("/proc/" + strconv.Itoa(orphan))
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(orphan) + "/stat")
			t.Fatalf("orphan %d not reaped: %s", orphan, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
