package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/control"
)

type datagram struct {
	at  time.Time
	msg string
}

// fakeSystemd listens on a unixgram socket as systemd does for
// NOTIFY_SOCKET and records every message.
func fakeSystemd(t *testing.T, path string) <-chan datagram {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan datagram, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := c.ReadFromUnix(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- datagram{time.Now(), string(buf[:n])}
		}
	}()
	return ch
}

func TestNotifySocket(t *testing.T) {
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	msgs := fakeSystemd(t, notify)
	flag := filepath.Join(dir, "flag")
	m := &managed{t: t, dir: dir, sock: filepath.Join(dir, "zs")}
	os.WriteFile(filepath.Join(dir, "prog.sh"), []byte("#!/bin/sh\nenv > env.txt\nexec sleep 100\n"), 0o755)
	conf := fmt.Sprintf("<runner>\n  program %s/prog.sh\n  socket-name %s\n  start-test-program test -e %s\n  transcript %s/transcript\n</runner>\n", dir, m.sock, flag, dir)
	os.WriteFile(filepath.Join(dir, "zd.conf"), []byte(conf), 0o644)
	t.Cleanup(m.cleanup)
	done := make(chan int, 1)
	go func() {
		code, _, _ := zdrunRun(t, dir, []string{"NOTIFY_SOCKET=" + notify}, "-C", "zd.conf")
		done <- code
	}()
	st := m.waitApp(0)
	// The program runs but its start test fails: not ready yet.
	select {
	case d := <-msgs:
		t.Fatalf("message before the start test passed: %q", d.msg)
	case <-time.After(500 * time.Millisecond):
	}
	if st.Testing != 1 {
		t.Errorf("testing=%d while the start test fails", st.Testing)
	}
	flagged := time.Now()
	os.WriteFile(flag, nil, 0o644)
	var ready datagram
	select {
	case ready = <-msgs:
	case <-time.After(10 * time.Second):
		t.Fatal("no READY=1 after the start test passed")
	}
	want := fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=program running (pid %d)", st.Manager, st.Application)
	if ready.msg != want || ready.at.Before(flagged) {
		t.Errorf("got %q at %v (flag at %v), want %q", ready.msg, ready.at, flagged, want)
	}
	if code := <-done; code != 0 {
		t.Errorf("first stage exit %d", code)
	}
	// The program does not see NOTIFY_SOCKET: readiness is zdrun's.
	env, _ := os.ReadFile(filepath.Join(dir, "env.txt"))
	if strings.Contains(string(env), "NOTIFY_SOCKET") || len(env) == 0 {
		t.Errorf("program environment:\n%s", env)
	}
	if r, _ := control.Call(context.Background(), m.sock, "stop"); r != "Sent SIGTERM\n" {
		t.Fatalf("stop: %q", r)
	}
	select {
	case d := <-msgs:
		if d.msg != "STOPPING=1\nSTATUS=stopping the program" {
			t.Errorf("on stop: %q", d.msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no STOPPING=1 on stop")
	}
}

func TestExtractMetricsFlag(t *testing.T) {
	cases := []struct {
		in    []string
		value string
		found bool
		rest  []string
	}{
		{[]string{"zdrun", "prog"}, "", false, []string{"zdrun", "prog"}},
		{[]string{"zdrun", "--metrics-address", ":9", "-b", "5", "prog", "--metrics-address", "x"}, ":9", true, []string{"zdrun", "-b", "5", "prog", "--metrics-address", "x"}},
		{[]string{"zdrun", "-s", "--metrics-address", "--metrics-address=h:1", "prog"}, "h:1", true, []string{"zdrun", "-s", "--metrics-address", "prog"}},
		{[]string{"zdrun", "-fb", "--metrics-address", "--metrics-address=:2", "p"}, ":2", true, []string{"zdrun", "-fb", "--metrics-address", "p"}},
		{[]string{"zdrun", "-fb5", "--metrics-address=:3", "p"}, ":3", true, []string{"zdrun", "-fb5", "p"}},
		{[]string{"zdrun", "--sock", "--metrics-address", "--stop-timeout=3", "--metrics-address", "h:4", "p"}, "h:4", true, []string{"zdrun", "--sock", "--metrics-address", "--stop-timeout=3", "p"}},
		{[]string{"zdrun", "--", "--metrics-address", "x"}, "", false, []string{"zdrun", "--", "--metrics-address", "x"}},
	}
	for _, c := range cases {
		v, found, rest, err := extractMetricsFlag(c.in)
		if err != nil || v != c.value || found != c.found || !reflect.DeepEqual(rest, c.rest) {
			t.Errorf("%q: %q %v %q %v; want %q %v %q", c.in, v, found, rest, err, c.value, c.found, c.rest)
		}
	}
	if _, _, _, err := extractMetricsFlag([]string{"zdrun", "--metrics-address"}); err == nil {
		t.Error("missing value accepted")
	}
}

// TestExtraSettingsErrors: bad values are usage errors naming the source.
func TestExtraSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{MetricsEnv + "=nonsense"}, []string{"sleep"}, `Error: ZDRUN_METRICS_ADDRESS: invalid address "nonsense": address nonsense: missing port in address`},
		{nil, []string{"--metrics-address", "h:99999", "sleep"}, `Error: --metrics-address: invalid address "h:99999": bad port "99999"`},
		{[]string{LineLimitEnv + "=0"}, []string{"sleep"}, `Error: ZDRUN_CONTROL_LINE_LIMIT: invalid line limit "0" (a positive number of bytes)`},
		{[]string{IdleTimeoutEnv + "=x"}, []string{"sleep"}, `Error: ZDRUN_CONTROL_IDLE_TIMEOUT: invalid idle timeout "x" (seconds, above 0)`},
		{nil, []string{"--metrics-address"}, `Error: option --metrics-address requires argument`},
	} {
		code, _, errs := zdrunRun(t, dir, c.env, c.args...)
		if code != 2 || !strings.HasPrefix(errs, c.want+"\nFor help, use zdrun -h\n") {
			t.Errorf("%v %v: exit %d, %q; want 2, %q", c.env, c.args, code, errs, c.want)
		}
	}
}

// TestControlLimitsFromEnv: the control socket's line limit and idle
// timeout reach a real zdrun through the environment.
func TestControlLimitsFromEnv(t *testing.T) {
	m := startZdrun(t, "", "exec sleep 100", LineLimitEnv+"=20", IdleTimeoutEnv+"=0.2")
	m.waitApp(0)
	r, err := control.Call(context.Background(), m.sock, strings.Repeat("s", 21))
	if err != nil || r != "Command exceeds 20 bytes\n" {
		t.Errorf("long line: %q, %v", r, err)
	}
	c, err := net.Dial("unix", m.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("sta"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 200)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "Command not received in time (200ms without a newline); closing\n" {
		t.Errorf("idle: %q", got)
	}
	if st, ok := m.status(); !ok || st.Application == 0 {
		t.Errorf("status: %v %+v", ok, st)
	}
}
