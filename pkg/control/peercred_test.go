package control

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a one-shot control client (see
// TestMain): it calls "status" on the socket named by the variable and
// prints the reply or the error. Tests run it under another uid.
const helperEnv = "ZDKIT_CONTROL_TEST_CALL"

func TestMain(m *testing.M) {
	if sock := os.Getenv(helperEnv); sock != "" {
		reply, err := Call(context.Background(), sock, "status")
		if err != nil {
			fmt.Printf("error: %v\n", err)
			os.Exit(1)
		}
		fmt.Print(reply)
		os.Exit(0)
	}
	code := m.Run()
	if clientDir != "" {
		os.RemoveAll(clientDir)
	}
	os.Exit(code)
}

// clientDir holds a copy of the test binary other users can run, made
// once (copying it for every call doubled the tests' time).
var (
	clientDir  string
	clientOnce sync.Once
	clientErr  error
)

func clientBinary() (string, error) {
	clientOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			clientErr = err
			return
		}
		if clientDir, err = os.MkdirTemp("", "zdkit-control-client"); err != nil {
			clientErr = err
			return
		}
		os.Chmod(clientDir, 0o755)
		data, err := os.ReadFile(self)
		if err == nil {
			err = os.WriteFile(filepath.Join(clientDir, "client"), data, 0o755)
		}
		clientErr = err
	})
	return filepath.Join(clientDir, "client"), clientErr
}

// callAs runs the helper client as uid/gid and returns its output.
func callAs(t *testing.T, sock string, uid, gid uint32) (string, error) {
	t.Helper()
	// The test binary sits in a private build directory: run a copy
	// the other user can reach.
	bin, err := clientBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openDirs lets other users reach the socket's directory (t.TempDir's
// directories are private).
func openDirs(t *testing.T, sock string) {
	for d := filepath.Dir(sock); d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

const nobody = 65534

func TestPeerCredRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	sock := filepath.Join(t.TempDir(), "zdsock")
	l := startServer(t, sock, func(line string) string { return Dispatch(testCmds, line) })
	refused := make(chan uint32, 1)
	l.Refused = func(uid uint32, pid int32) { refused <- uid }
	openDirs(t, sock)

	// Mode 0700 (zdaemon 5.2.1 Daemonizer.opensocket): another user cannot even connect.
	out, err := callAs(t, sock, nobody, nobody)
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody through a 0700 socket: %v, %q; want connect refused", err, out)
	}
	// With the mode loosened, SO_PEERCRED still refuses the command.
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	out, err = callAs(t, sock, nobody, nobody)
	want := RefusalReply(nobody, 0) + "\n"
	if err != nil || out != want {
		t.Fatalf("nobody: %v, %q; want %q", err, out, want)
	}
	select {
	case uid := <-refused:
		if uid != nobody {
			t.Errorf("Refused heard uid %d", uid)
		}
	case <-time.After(5 * time.Second):
		t.Error("Refused hook not called")
	}
	// Root is obeyed.
	out, err = callAs(t, sock, 0, 0)
	if err != nil || out != "application=1\n" {
		t.Fatalf("root: %v, %q", err, out)
	}
}

func TestPeerCredOwnerObeyed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run clients as other users")
	}
	sock := filepath.Join(t.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	// The socket as a manager running as nobody would have made it.
	if err := os.Chown(sock, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	l.owner = nobody
	done := make(chan error, 1)
	go func() { done <- l.Serve(func(line string) string { return Dispatch(testCmds, line) }) }()
	t.Cleanup(func() { l.Close(); <-done })
	openDirs(t, sock)
	os.Chmod(sock, 0o777)
	for _, c := range []struct {
		uid  uint32
		want string
	}{
		{nobody, "application=1\n"},
		{0, "application=1\n"},
		{nobody - 1, RefusalReply(nobody-1, nobody) + "\n"},
	} {
		if out, err := callAs(t, sock, c.uid, c.uid); err != nil || out != c.want {
			t.Errorf("uid %d: %v, %q; want %q", c.uid, err, out, c.want)
		}
	}
}

func TestIdleConnectionClosed(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	l.IdleTimeout = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- l.Serve(func(line string) string { return "ok" }) }()
	t.Cleanup(func() { l.Close(); <-done })

	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Half a command and then silence, without closing the write side.
	if _, err := c.Write([]byte("stat")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("server did not close the idle connection: %v", err)
	}
	if want := "Command not received in time (200ms without a newline); closing\n"; string(out) != want {
		t.Errorf("reply %q, want %q", out, want)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", el)
	}
}

func TestMaxLineConfigurable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	l.MaxLine = 100
	done := make(chan error, 1)
	go func() { done <- l.Serve(func(line string) string { return fmt.Sprintf("got %d", len(line)) }) }()
	t.Cleanup(func() { l.Close(); <-done })
	cases := []struct{ send, want string }{
		{strings.Repeat("a", 100) + "\n", "got 100\n"},
		{strings.Repeat("a", 101), "Command exceeds 100 bytes\n"},
		{strings.Repeat("a", 101) + "\n", "Command exceeds 100 bytes\n"},
	}
	for _, c := range cases {
		if got := rawCall(t, sock, []byte(c.send)); got != c.want {
			t.Errorf("send %d bytes: %q, want %q", len(c.send), got, c.want)
		}
	}
}

// TestBurstOfCalls: far more simultaneous clients than zdrun's backlog of
// 1 allowed; every one is answered (connect retries on EAGAIN).
func TestBurstOfCalls(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	startServer(t, sock, func(line string) string { return "ok " + line })
	const n = 500
	errs := make(chan error, n)
	for i := range n {
		go func() {
			r, err := Call(context.Background(), sock, fmt.Sprintf("status %d", i))
			if err == nil && r != fmt.Sprintf("ok status %d\n", i) {
				err = fmt.Errorf("reply %q", r)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkBurst200 is 200 clients calling "status" at the same moment
// (a monitoring burst); one op is the whole burst, all replies in.
func BenchmarkBurst200(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	reply := (&Status{Running: true, Application: 5337, Manager: 5335, BackoffLimit: 10, Filename: "/usr/bin/sleep", Args: []string{"sleep", "100"}}).Format()
	go l.Serve(func(string) string { return reply })
	for b.Loop() {
		errs := make(chan error, 200)
		for range 200 {
			go func() {
				r, err := Call(context.Background(), sock, "status")
				if err == nil && r != reply {
					err = fmt.Errorf("reply %q", r)
				}
				errs <- err
			}()
		}
		for range 200 {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
}
