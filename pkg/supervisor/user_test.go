package supervisor

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/control"
	"github.com/zdkit/zdkit/pkg/runner"
)

// TestUserSwitch runs zdrun as root with -u nobody: the daemon and the
// program run as that user, with its primary group and exactly the
// supplementary groups listing it.
func TestUserSwitch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	acct, err := runner.LookupUser("nobody")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "zdrun-user")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	prog := filepath.Join(dir, "prog.sh")
	os.WriteFile(prog, []byte("#!/bin/sh\n{ id -u; id -g; id -G; } > "+dir+"/ids\nexec sleep 100\n"), 0o755)
	zdrun, err := exec.LookPath("zdrun")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "zs")
	out, err := exec.Command(zdrun, "-u", "nobody", "-s", sock, prog).CombinedOutput()
	if err != nil {
		t.Fatalf("zdrun: %v\n%s", err, out)
	}
	st, ok := control.GetStatus(context.Background(), sock)
	if !ok {
		t.Fatal("manager not answering")
	}
	t.Cleanup(func() {
		control.Call(context.Background(), sock, "stop")
		for i := 0; i < 500 && alive(st.Manager); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; strconv.Itoa(int(uid)) != u.Uid {
		t.Errorf("socket owned by %d, want %s", uid, u.Uid)
	}
	var ids []byte
	for i := 0; i < 500 && len(ids) == 0; i++ {
		ids, _ = os.ReadFile(filepath.Join(dir, "ids"))
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSpace(string(ids)), "\n")
	groups := []string{strconv.Itoa(acct.GID)}
	for _, g := range acct.Groups {
		if g != acct.GID {
			groups = append(groups, strconv.Itoa(g))
		}
	}
	want := []string{u.Uid, strconv.Itoa(acct.GID), strings.Join(groups, " ")}
	if len(lines) != 3 || lines[0] != want[0] || lines[1] != want[1] || lines[2] != want[2] {
		t.Errorf("program ids %q, want %q", lines, want)
	}
}
