package control

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPyFloat(t *testing.T) {
	cases := map[float64]string{
		1795587435.0728025: "1795587435.0728025",
		12:                 "12.0",
		0:                  "0.0",
		1e16:               "1e+16",
		0.5:                "0.5",
		1.5e-05:            "1.5e-05",
	}
	for in, want := range cases {
		if got := PyFloat(in); got != want {
			t.Errorf("PyFloat(%v) = %s, want %s", in, got, want)
		}
	}
}

// fixtureStatusReplies returns the raw status replies captured from the real
// zdrun in testdata/16-raw-socket.txt.
func fixtureStatusReplies(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "16-raw-socket.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile(`<<< reply: b"(status=[^"]*)"`).FindAllStringSubmatch(string(data), -1) {
		out = append(out, strings.ReplaceAll(m[1], `\n`, "\n"))
	}
	if len(out) != 2 {
		t.Fatalf("found %d status replies in fixture, want 2", len(out))
	}
	return out
}

func TestParseStatusFixture(t *testing.T) {
	replies := fixtureStatusReplies(t)
	st, ok := ParseStatus(replies[0])
	if !ok {
		t.Fatal("fixture reply not recognised as a live manager")
	}
	want := Status{
		Running: true, Now: 1795587435.0728025, ShouldBeUp: 1, Delay: 0, Backoff: 0,
		LastTime: 1795587434.1101015, Application: 5337, Testing: 0, Manager: 5335,
		BackoffLimit: 10, Filename: "/usr/bin/sleep", Args: []string{"sleep", "100"},
		ArgsOK: true, Raw: replies[0],
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("ParseStatus = %+v\nwant %+v", st, want)
	}
	// Format reproduces the real zdrun's bytes exactly.
	for _, r := range replies {
		st, _ := ParseStatus(r)
		if got := st.Format(); got != r {
			t.Errorf("Format() =\n%s\nwant\n%s", got, r)
		}
	}
}

func TestParseStatusRules(t *testing.T) {
	// No application line: not a manager.
	for _, r := range []string{"", "Unknown command 'status'; 'help' for a list\n", "application=\n", "xapplication=5\n"} {
		if _, ok := ParseStatus(r); ok {
			t.Errorf("ParseStatus(%q) ok, want not a manager", r)
		}
	}
	// Seed-era reply: mood= instead of should_be_up=, no testing=.
	st, ok := ParseStatus("status=stopped\nmood=1\napplication=0\n")
	if !ok || st.Application != 0 || st.ShouldBeUp != 1 || st.Testing != 0 || st.ArgsOK {
		t.Errorf("seed reply parsed as %+v ok=%v", st, ok)
	}
	st, ok = ParseStatus("application=42\nshould_be_up=0\ntesting=1\nargs=['a b']\n")
	if !ok || st.Application != 42 || st.ShouldBeUp != 0 || st.Testing != 1 || !reflect.DeepEqual(st.Args, []string{"a b"}) {
		t.Errorf("reply parsed as %+v ok=%v", st, ok)
	}
}

// serveOnce answers one connection on a real unix socket with handler's reply
// and returns the request it read.
func serveOnce(t *testing.T, reply func(req string) string) (string, <-chan string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c)
		got <- string(req)
		io.WriteString(c, reply(string(req)))
	}()
	return sock, got
}

func TestCall(t *testing.T) {
	sock, got := serveOnce(t, func(req string) string { return "echo:" + req })
	reply, err := Call(context.Background(), sock, "status")
	if err != nil {
		t.Fatal(err)
	}
	if req := <-got; req != "status\n" {
		t.Errorf("server read %q, want %q", req, "status\n")
	}
	if reply != "echo:status\n" {
		t.Errorf("reply %q", reply)
	}
}

func TestCallNoManager(t *testing.T) {
	_, err := Call(context.Background(), filepath.Join(t.TempDir(), "missing"), "status")
	if err == nil || !strings.Contains(err.Error(), `call "status"`) {
		t.Errorf("err = %v, want a dial error naming the command", err)
	}
	if _, ok := GetStatus(context.Background(), filepath.Join(t.TempDir(), "missing")); ok {
		t.Error("GetStatus ok on a missing socket")
	}
}

func TestCallDeadline(t *testing.T) {
	// A listener that accepts but never answers: Call must give up at the
	// context deadline instead of hanging.
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		c, err := l.Accept()
		if err == nil {
			<-done
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = Call(ctx, sock, "status")
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
}

func TestGetStatus(t *testing.T) {
	sock, _ := serveOnce(t, func(string) string {
		return (&Status{Application: 7, ShouldBeUp: 1, Manager: 3, BackoffLimit: 10, Args: []string{"x"}}).Format()
	})
	st, ok := GetStatus(context.Background(), sock)
	if !ok || st.Application != 7 || st.Manager != 3 || strconv.Itoa(st.BackoffLimit) != "10" {
		t.Errorf("GetStatus = %+v, %v", st, ok)
	}
}
