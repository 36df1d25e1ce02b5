package runner

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zd.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func usageMsg(t *testing.T, err error) string {
	t.Helper()
	var ue *getopt.UsageError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not a usage error", err, err)
	}
	return ue.Msg
}

func TestDefaults(t *testing.T) {
	o, err := Parse("zdctl", []string{"-p", "sleep 100", "status"}, Zdctl)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Program, []string{"sleep", "100"}) || o.BackoffLimit != 10 || !o.Daemon ||
		o.Forever || o.SocketName != "zdsock" || !reflect.DeepEqual(o.ExitCodes, []int{0, 2}) ||
		o.Umask != 0o22 || o.Transcript != "/dev/null" || o.StartTimeout != 300 || o.StopTimeout != 300 ||
		o.SettleTime != 250*time.Millisecond || !o.DefaultToInteractive || o.Interactive ||
		!reflect.DeepEqual(o.Args, []string{"status"}) {
		t.Errorf("defaults: %+v", o)
	}
	if o.Source("daemon") != FromDefault || o.Source("program") != FromFlag {
		t.Errorf("sources wrong")
	}
	want := []string{"-b", "10", "-s", "zdsock", "-t", "/dev/null", "-m", "0o22", "-x", "0,2", "sleep", "100", "x"}
	if got := o.ZdrunArgs([]string{"x"}); !reflect.DeepEqual(got, want) {
		t.Errorf("ZdrunArgs = %q\nwant %q", got, want)
	}
}

func TestFlags(t *testing.T) {
	dir := t.TempDir()
	o, err := Parse("zdctl", []string{"-p", "sleep 100", "-b", "3", "-f", "-s", "my.sock", "-x", "1, 2", "-m", "077",
		"-z", dir, "-t", "t.log", "-l", "l.log", "-T", "9", "--stop-timeout=5", "--settle-time", "20", "-i", "-u", "nobody", "show"}, Zdctl)
	if err != nil {
		t.Fatal(err)
	}
	if o.BackoffLimit != 3 || !o.Forever || o.SocketName != "my.sock" || !reflect.DeepEqual(o.ExitCodes, []int{1, 2}) ||
		o.Umask != 0o77 || o.Directory != dir || o.Transcript != "t.log" || o.LogFile != "l.log" || o.StartTimeout != 9 ||
		o.StopTimeout != 5 || o.SettleTime != 20*time.Millisecond || !o.Interactive || o.User != "nobody" {
		t.Errorf("flags: %+v", o)
	}
	want := []string{"-b", "3", "-f", "-s", "my.sock", "-u", "nobody", "-t", "t.log", "-m", "0o77", "-x", "1,2", "-z", dir,
		"--stop-timeout", "5", "--settle-time", "20", "sleep", "100"}
	if got := o.ZdrunArgs(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("ZdrunArgs = %q\nwant %q", got, want)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		mode Mode
		msg  string
	}{
		{[]string{"status"}, Zdctl, "no program specified; use -p or -C"},
		{[]string{}, Zdrun, "no program specified (use positional args)"},
		{[]string{"-p", "x", "-b", "notanumber", "status"}, Zdctl, "invalid value for -b 'notanumber': invalid literal for int() with base 10: 'notanumber'"},
		{[]string{"-p", "x", "-m", "9", "status"}, Zdctl, "invalid value for -m '9': invalid literal for int() with base 8: '9'"},
		{[]string{"-p", "x", "-x", "0,a", "status"}, Zdctl, "invalid value for -x '0,a': invalid literal for int() with base 10: 'a'"},
		{[]string{"-p", "x", "-p", "y", "status"}, Zdctl, "conflicting command line option '-p'"},
		{[]string{"-p", "x", "--bogus-option", "status"}, Zdctl, "option --bogus-option not recognized"},
		{[]string{"-p", "x", "--d", "status"}, Zdctl, "option --d not a unique prefix"},
		{[]string{"-p", "x", "-X", "a=b", "status"}, Zdctl, "configuration overrides (-X) cannot be used without a configuration file"},
		{[]string{"-p", "x", "-s", "/nonexistent-zd/run/zd.sock", "status"}, Zdctl, "invalid value for -s '/nonexistent-zd/run/zd.sock': The directory named as part of the path /nonexistent-zd/run/zd.sock does not exist."},
		{[]string{"-p", "x", "-z", "/nonexistent-zd/run", "status"}, Zdctl, "invalid value for -z '/nonexistent-zd/run': /nonexistent-zd/run is not an existing directory"},
		{[]string{"-p", "x", "-b", "-1", "status"}, Zdctl, "backoff-limit must not be negative, not -1"},
		{[]string{"-p", "x", "-b", "0", "-f", "status"}, Zdctl, "backoff-limit 0 with forever would restart the program without pause; use backoff-limit 1 or more"},
		{[]string{"-b", "0", "-f", "sleep"}, Zdrun, "backoff-limit 0 with forever would restart the program without pause; use backoff-limit 1 or more"},
		{[]string{"/nonexistent/program"}, Zdrun, "can't stat program '/nonexistent/program'"},
		{[]string{"-T", "9", "sleep"}, Zdrun, "option -T not recognized"},
	}
	for _, c := range cases {
		_, err := Parse("zdctl", c.args, c.mode)
		if got := usageMsg(t, err); got != c.msg {
			t.Errorf("%q: %q\nwant %q", c.args, got, c.msg)
		}
	}
	t.Setenv("PATH", "/nonexistent-a:/nonexistent-b")
	_, err := Parse("zdrun", []string{"no-such-prog-zd"}, Zdrun)
	if got := usageMsg(t, err); got != "can't find program 'no-such-prog-zd' on PATH ['/nonexistent-a', '/nonexistent-b']" {
		t.Errorf("PATH search: %q", got)
	}
}

func TestNoPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may run anything")
	}
	p := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644)
	_, err := Parse("zdrun", []string{p}, Zdrun)
	if got := usageMsg(t, err); got != "no permission to run program "+pyrepr.Str(p) {
		t.Errorf("got %q", got)
	}
}

func TestHelpVersion(t *testing.T) {
	if _, err := Parse("zdctl", []string{"-h", "-b", "x"}, Zdctl); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, err := Parse("zdctl", []string{"--vers"}, Zdctl); !errors.Is(err, ErrVersion) {
		t.Errorf("--version: %v", err)
	}
	if _, err := Parse("zdctl", []string{"--h"}, Zdrun); !errors.Is(err, ErrHelp) {
		t.Errorf("--h: %v", err)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, `<runner>
  program sleep 100
  socket-name run/zd.sock
  backoff-limit 7
  forever true
  exit-codes 0,2,9
  umask 027
  directory `+dir+`
  logfile zd.log
  transcript tr.log
  start-timeout 30
  stop-timeout 20
  start-test-program test -f ready
  <eventlog>
    level debug
  </eventlog>
</runner>
<environment>
  FOO bar-from-config
  Mixed Case
</environment>
<zeo>
  address 9999
</zeo>
`)
	o, err := Parse("zdctl", []string{"-C", conf, "-b", "7", "-f", "-s", "other.sock", "-X", "runner/umask=077", "status"}, Zdctl)
	if err != nil {
		t.Fatal(err)
	}
	if o.BackoffLimit != 7 || !o.Forever || o.SocketName != "other.sock" || !reflect.DeepEqual(o.ExitCodes, []int{0, 2, 9}) ||
		o.Umask != 0o77 || o.Directory != dir || o.LogFile != "zd.log" || o.Transcript != "tr.log" || o.StartTimeout != 30 ||
		o.StopTimeout != 20 || !reflect.DeepEqual(o.StartTestProgram, []string{"test", "-f", "ready"}) {
		t.Errorf("config: %+v", o)
	}
	if !reflect.DeepEqual(o.Environment, []KeyValue{{"FOO", "bar-from-config"}, {"Mixed", "Case"}}) {
		t.Errorf("environment %v", o.Environment)
	}
	if o.EventLog == nil || o.EventLog.String("level") != "debug" {
		t.Errorf("eventlog %v", o.EventLog)
	}
	if o.Source("forever") != FromFlag || o.Source("exitcodes") != FromConfig || o.Source("umask") != FromConfig {
		t.Errorf("sources")
	}
	// -b 7 and -f repeat the file and are dropped; -s overrides it.
	want := []string{"-C", conf, "-X", "runner/umask=077", "-s", "other.sock", "sleep", "100"}
	if got := o.ZdrunArgs(nil); !reflect.DeepEqual(got, want) {
		t.Errorf("ZdrunArgs = %q\nwant %q", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := Parse("zdctl", []string{"-C", "/nonexistent.conf", "status"}, Zdctl)
	if msg := usageMsg(t, err); !strings.Contains(msg, "/nonexistent.conf") {
		t.Errorf("missing file: %q", msg)
	}
	conf := writeConf(t, "<runner>\n program x\n bogus-key 1\n</runner>\n")
	_, err = Parse("zdctl", []string{"-C", conf, "status"}, Zdctl)
	if msg := usageMsg(t, err); !strings.Contains(msg, "'bogus-key' is not a known key name") || !strings.Contains(msg, "line 3") {
		t.Errorf("bad key: %q", msg)
	}
	conf = writeConf(t, "<environment>\n A b\n</environment>\n")
	_, err = Parse("zdctl", []string{"-C", conf, "status"}, Zdctl)
	if msg := usageMsg(t, err); !strings.Contains(msg, "no values for section type 'runner'; 1 required") {
		t.Errorf("no runner: %q", msg)
	}
	conf = writeConf(t, "<runner>\n program x\n forever maybe\n</runner>\n")
	_, err = Parse("zdctl", []string{"-C", conf, "status"}, Zdctl)
	if msg := usageMsg(t, err); !strings.Contains(msg, "not a valid boolean value: 'maybe'") {
		t.Errorf("bad bool: %q", msg)
	}
}

func TestZdrunMode(t *testing.T) {
	conf := writeConf(t, "<runner>\n program sleep 5\n</runner>\n")
	o, err := Parse("zdrun", []string{"-C", conf, "-s", "x.sock"}, Zdrun)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Program, []string{"sleep", "5"}) || !filepath.IsAbs(o.SocketName) || !strings.HasSuffix(o.Filename, "/sleep") {
		t.Errorf("zdrun: %+v", o)
	}
	o, err = Parse("zdrun", []string{"-C", conf, "true", "-x"}, Zdrun)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Program, []string{"true", "-x"}) {
		t.Errorf("positional program: %q", o.Program)
	}
}

func TestLookupUser(t *testing.T) {
	if _, err := LookupUser("no-such-user-zdkit"); usageMsg(t, err) != "username 'no-such-user-zdkit' not found" {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := LookupUser("987654"); usageMsg(t, err) != "uid '987654' not found" {
		t.Errorf("unknown uid: %v", err)
	}
	a, err := LookupUser("0")
	if err != nil || a.UID != 0 || a.Name != "root" {
		t.Fatalf("root: %+v %v", a, err)
	}
	if os.Geteuid() != 0 {
		if err := a.Switch(); usageMsg(t, err) != "only root can use -u USER to change users" {
			t.Errorf("switch: %v", err)
		}
	}
}
