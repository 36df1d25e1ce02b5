package zdctl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
	"github.com/zdkit/zdkit/pkg/zdctl"
)

// copyExecutable puts a copy of this test binary at path: run under the
// name "zdctl" or "zdrun" it is that program (testscript.Main dispatches
// on argv[0]), and unlike the binary go test built it is readable by
// another user.
func copyExecutable(t *testing.T, path string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

type zdctlRun struct {
	code           int
	stdout, stderr string
}

// runZdctl runs the zdctl copy, as the user cred when it is not nil, with
// stdin; a hang fails the test after a minute instead of stalling it.
func runZdctl(t *testing.T, bin string, cred *syscall.Credential, stdin string, args ...string) zdctlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(bin))
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("zdctl %q hung: %v", args, ctx.Err())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("zdctl %q: %v", args, err)
	}
	return zdctlRun{code, out.String(), errOut.String()}
}

// TestPermissionDenied runs zdctl as nobody against root's zdrun. Every
// verb that goes through the control socket says "Permission denied",
// naming the socket and its owner, on stderr and exits 4 (LSB's
// "insufficient privilege"), whether connect(2) is refused (the socket's
// mode 0700) or zdrun refuses the caller (SO_PEERCRED, socket made
// world-writable); the program keeps running. zdaemon 5.2.1 printed
// "daemon manager not running" and exited 0 for stop.
func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (to run zdrun as root and zdctl as nobody)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}

	dir, err := os.MkdirTemp("", "zdctl-denied")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The programs in bin/, the socket in run/ (closed at the end).
	for _, d := range []string{"bin", "run"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "bin", "zdctl")
	copyExecutable(t, bin)
	copyExecutable(t, filepath.Join(dir, "bin", "zdrun"))
	sock := filepath.Join(dir, "run", "zdsock")
	opts := []string{"-p", "sleep 100", "-s", sock}

	r := runZdctl(t, bin, nil, "", append(opts, "start")...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if st, ok := control.GetStatus(ctx, sock); ok {
			control.Call(ctx, sock, "stop")
			for i := 0; i < 500 && syscall.Kill(st.Manager, 0) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		stopManagers(dir)
	})
	if r.code != 0 || !strings.Contains(r.stdout, "daemon process started") {
		t.Fatalf("start as root: %+v", r)
	}
	before, ok := control.GetStatus(context.Background(), sock)
	if !ok || before.Application == 0 {
		t.Fatalf("no program after start: %+v", before)
	}

	denied := func(reason string) string {
		return fmt.Sprintf("Permission denied: control socket %s belongs to root (uid 0); zdctl runs as nobody (uid %d) (%s)\n", sock, uid, reason)
	}
	verbs := [][]string{
		{"status"}, {"status", "--json"}, {"status", "-l"}, {"stop"}, {"start"}, {"restart"},
		{"kill"}, {"kill", "HUP"}, {"wait"}, {"reopen_transcript"}, {"logreopen"}, {"quit"}, {"fg"},
	}
	connectRefused := denied("connect: permission denied")
	for _, v := range verbs {
		r := runZdctl(t, bin, cred, "", append(opts, v...)...)
		if r.code != zdctl.ExitDenied || r.stdout != "" || r.stderr != connectRefused {
			t.Errorf("zdctl %s as nobody: exit %d, stdout %q, stderr %q; want exit 4 and %q", strings.Join(v, " "), r.code, r.stdout, r.stderr, connectRefused)
		}
	}
	// Verbs that do not use the socket are unaffected.
	if r := runZdctl(t, bin, cred, "", append(opts, "help", "stop")...); r.code != 0 || !strings.HasPrefix(r.stdout, "stop -- Stop the daemon process.") {
		t.Errorf("help stop as nobody: %+v", r)
	}
	// The shell reports it for each such command and goes on.
	r = runZdctl(t, bin, cred, "stop\nhelp quit\n", append(opts, "-i")...)
	if got := strings.Count(r.stderr, connectRefused); got != 2 || !strings.Contains(r.stdout, "quit -- Exit the zdctl shell.") {
		t.Errorf("shell as nobody: %d refusals (want 2): %+v", got, r)
	}

	// A world-writable socket: connect succeeds and zdrun refuses by
	// SO_PEERCRED.
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	peerRefused := denied(fmt.Sprintf("zdrun says: Permission denied: uid %d is neither root nor the owner of the control socket (uid 0)", uid))
	for _, v := range [][]string{{"status"}, {"stop"}, {"start"}, {"kill"}} {
		r := runZdctl(t, bin, cred, "", append(opts, v...)...)
		if r.code != zdctl.ExitDenied || r.stdout != "" || r.stderr != peerRefused {
			t.Errorf("zdctl %s as nobody (socket 0777): exit %d, stdout %q, stderr %q; want exit 4 and %q", strings.Join(v, " "), r.code, r.stdout, r.stderr, peerRefused)
		}
	}

	// A socket in a directory closed to the user: its owner is not known,
	// the directory's is.
	if err := os.Chmod(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	dirRefused := fmt.Sprintf("Permission denied: control socket %s is in %s, which belongs to root (uid 0); zdctl runs as nobody (uid %d) (connect: permission denied)\n", sock, filepath.Dir(sock), uid)
	for _, v := range [][]string{{"status"}, {"stop"}} {
		r := runZdctl(t, bin, cred, "", append(opts, v...)...)
		if r.code != zdctl.ExitDenied || r.stdout != "" || r.stderr != dirRefused {
			t.Errorf("zdctl %s as nobody (socket directory 0700): exit %d, stdout %q, stderr %q; want exit 4 and %q", strings.Join(v, " "), r.code, r.stdout, r.stderr, dirRefused)
		}
	}

	after, ok := control.GetStatus(context.Background(), sock)
	if !ok || after.Application != before.Application || after.Manager != before.Manager {
		t.Errorf("the daemon changed: before %+v, after %+v", before, after)
	}
	r = runZdctl(t, bin, nil, "", append(opts, "stop")...)
	if r.code != 0 || !strings.Contains(r.stdout, "daemon process stopped") {
		t.Errorf("stop as root: %+v", r)
	}
}
