package control

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// rawCall sends raw bytes on a fresh connection, half-closes, and returns
// everything the server wrote.
func rawCall(t *testing.T, sock string, data []byte) string {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var testCmds = map[string]Command{
	"status":            {Help: "report status", Run: func([]string) string { return "application=1\n" }},
	"kill":              {Help: "send a signal", Run: func(a []string) string { return "args=" + pyrepr.List(a) }},
	"reopen_transcript": {Help: "reopen", Run: func([]string) string { return "" }},
}

func startServer(t *testing.T, sock string, handle func(string) string) *Listener {
	t.Helper()
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(handle) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l
}

func TestServerProtocol(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	startServer(t, sock, func(line string) string { return Dispatch(testCmds, line) })

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket mode %v, want a socket with 0700", fi.Mode())
	}
	cases := []struct{ send, want string }{
		{"status\n", "application=1\n"},
		{"kill 10 x\n", "args=['10', 'x']\n"},
		{"kill\nignored second line\n", "args=[]\n"},
		{"\n", "Empty command\n"},
		{"   \t\n", "Empty command\n"},
		{"bogus\n", "Unknown command 'bogus'; 'help' for a list\n"},
		{"it's\n", "Unknown command \"it's\"; 'help' for a list\n"},
		{"status", "Command not terminated by newline\n"},
		{"", "Command not terminated by newline\n"},
		{strings.Repeat("x", MaxCommand+1), "Command exceeds 10 KB\n"},
		{strings.Repeat("x", MaxCommand) + "\n", "Unknown command '" + strings.Repeat("x", MaxCommand) + "'; 'help' for a list\n"},
		{"reopen_transcript\n", ""},
		{"help\n", "Available commands (one per connection):\n" +
			"help              -- list the available commands\n" +
			"kill              -- send a signal\n" +
			"reopen_transcript -- reopen\n" +
			"status            -- report status\n"},
	}
	for _, c := range cases {
		if got := rawCall(t, sock, []byte(c.send)); got != c.want {
			t.Errorf("send %.40q: got %.200q, want %.200q", c.send, got, c.want)
		}
	}
}

func TestServerConcurrent(t *testing.T) {
	// Every handler blocks until all callers are connected: this only
	// finishes if the connections are served at the same time.
	const n = 8
	sock := filepath.Join(t.TempDir(), "zdsock")
	var wg sync.WaitGroup
	wg.Add(n)
	startServer(t, sock, func(line string) string {
		wg.Done()
		wg.Wait()
		return "ok " + line
	})
	replies := make(chan string, n)
	for range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := Call(ctx, sock, "status")
			if err != nil {
				r = err.Error()
			}
			replies <- r
		}()
	}
	for range n {
		if r := <-replies; r != "ok status\n" {
			t.Errorf("reply %q", r)
		}
	}
}

func TestListenAlreadyRunning(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	startServer(t, sock, func(string) string { return "status=running\napplication=5\n" })
	_, err := Listen(sock)
	var are *AlreadyRunningError
	if !errors.As(err, &are) || !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Listen: %v, want AlreadyRunningError", err)
	}
	want := "Another zrdun is already up using socket '" + sock + "':\nstatus=running\napplication=5\n"
	if err.Error() != want {
		t.Errorf("error text %q, want %q", err.Error(), want)
	}
	// The first manager's socket is untouched and still answers.
	if got := rawCall(t, sock, []byte("status\n")); got != "status=running\napplication=5\n" {
		t.Errorf("first manager reply after refused second: %q", got)
	}
}

func TestListenForeignManager(t *testing.T) {
	// A manager that takes no lock file (a Python zdrun) still answers on
	// the socket: we must not steal it.
	sock := filepath.Join(t.TempDir(), "zdsock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadAll(io.LimitReader(c, 7))
			io.WriteString(c, "application=9\n")
			c.Close()
		}
	}()
	_, err = Listen(sock)
	var are *AlreadyRunningError
	if !errors.As(err, &are) || are.Reply != "application=9\n" {
		t.Fatalf("Listen over a live foreign manager: %v", err)
	}
}

func TestListenStale(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	// A socket file whose owner is gone: bind, then close without unlinking.
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatal("stale socket not left behind:", err)
	}
	start := time.Now()
	l := startServer(t, sock, func(string) string { return "fresh" })
	if !l.Stale {
		t.Error("Stale = false, want true")
	}
	// Not a speed check: only that zdrun's 1 s sleep is gone.
	if d := time.Since(start); d >= time.Second {
		t.Errorf("reclaiming a stale socket took %v (zdrun slept 1 s)", d)
	}
	if got := rawCall(t, sock, []byte("status\n")); got != "fresh\n" {
		t.Errorf("reply %q", got)
	}
}

func TestListenCloseRemovesSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Serve(func(string) string { return "x" }) }()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Close: %v", err)
	}
	// The lock is released: a new manager can take over at once.
	l2, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l2.Close()
}

func TestListenPathTooLong(t *testing.T) {
	sock := filepath.Join(t.TempDir(), strings.Repeat("s", MaxPathLen))
	_, err := Listen(sock)
	var pe *PathTooLongError
	if !errors.Is(err, ErrPathTooLong) || !errors.As(err, &pe) || pe.Path != sock {
		t.Fatalf("err = %v, want PathTooLongError", err)
	}
	if !strings.Contains(err.Error(), "AF_UNIX allows at most 107") && MaxPathLen == 107 {
		t.Errorf("message %q does not give the limit", err)
	}
}

func TestReadCommand(t *testing.T) {
	cases := []struct {
		in   string
		want string
		err  error
	}{
		{"status\n", "status", nil},
		{"a\nb\n", "a", nil},
		{"\n", "", nil},
		{"abc", "", ErrNotTerminated},
		{strings.Repeat("y", MaxCommand+5), "", ErrTooLong},
	}
	for _, c := range cases {
		// iotest-style one-byte reads exercise the chunk loop.
		got, err := ReadCommand(&oneByteReader{r: bytes.NewReader([]byte(c.in))})
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("ReadCommand(%.20q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// FuzzReadCommand checks the command reader never panics, never returns a
// line containing a newline or longer than the limit, and agrees with a
// simple model of zdrun's framing.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{"status\n", "", "\n", "kill 10\n", "no newline", strings.Repeat("z", MaxCommand+1)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		line, err := ReadCommand(bytes.NewReader(data))
		i := bytes.IndexByte(data, '\n')
		switch {
		case i >= 0 && i <= MaxCommand:
			if err != nil || line != string(data[:i]) {
				t.Fatalf("got %q, %v; want first line", line, err)
			}
		case len(data) > MaxCommand:
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("got %q, %v; want ErrTooLong", line, err)
			}
		default:
			if !errors.Is(err, ErrNotTerminated) {
				t.Fatalf("got %q, %v; want ErrNotTerminated", line, err)
			}
		}
		_ = Dispatch(testCmds, line)
	})
}

// BenchmarkCallStatus is one control round trip (connect, send, half-close,
// read to EOF) against a Listener answering a status-sized reply: the
// manager's share of a one-shot "zdctl status".
func BenchmarkCallStatus(b *testing.B) {
	sock := filepath.Join(b.TempDir(), "zdsock")
	l, err := Listen(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	reply := (&Status{Running: true, Now: 1795587435.0728025, ShouldBeUp: 1, Application: 5337,
		Manager: 5335, BackoffLimit: 10, Filename: "/usr/bin/sleep", Args: []string{"sleep", "100"}}).Format()
	go l.Serve(func(string) string { return reply })
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Call(ctx, sock, "status")
		if err != nil || r != reply {
			b.Fatalf("%q, %v", r, err)
		}
	}
}
