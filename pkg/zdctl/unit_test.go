package zdctl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/zdkit/zdkit/pkg/runner"
)

func TestColumnizeModernList(t *testing.T) {
	// The listing zdaemon 5.2.1 prints (fixture 01-usage-help), trailing
	// blanks included.
	names := strings.Fields("fg foreground help kill logreopen logtail reopen_transcript restart show start status stop wait")
	want := "Documented commands (type help <topic>):\n========================================\n" +
		"fg          help  logreopen  reopen_transcript  show   status  wait\n" +
		"foreground  kill  logtail    restart            start  stop  \n\n"
	if got := helpListing(names); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if got := columnize([]string{"one"}, 79); got != "one\n" {
		t.Errorf("single: %q", got)
	}
	if got := columnize(nil, 79); got != "<empty>\n" {
		t.Errorf("empty: %q", got)
	}
}

func TestParseSignal(t *testing.T) {
	cases := []struct {
		arg  string
		sig  syscall.Signal
		name string
		ok   bool
	}{
		{"12", 12, "SIGUSR2", true}, {"USR2", 12, "SIGUSR2", true}, {"sigusr2", 12, "SIGUSR2", true},
		{"6", 6, "SIGABRT", true}, {"iot", 6, "SIGIOT", true}, {"17", 17, "SIGCHLD", true},
		{"29", 29, "SIGIO", true}, {"34", 34, "SIGRTMIN", true}, {"SIGTERM", 15, "SIGTERM", true},
		{"35", 0, "", false}, {"0", 0, "", false}, {"-1", 0, "", false}, {"65", 0, "", false},
		{"sig_ign", 0, "", false}, {"BOGUS", 0, "", false}, {"", 0, "", false},
	}
	for _, c := range cases {
		sig, name, ok := parseSignal(c.arg)
		if sig != c.sig || name != c.name || ok != c.ok {
			t.Errorf("parseSignal(%q) = %d %q %v, want %d %q %v", c.arg, sig, name, ok, c.sig, c.name, c.ok)
		}
	}
}

func TestParseLine(t *testing.T) {
	cases := map[string][2]string{
		"  status -l ": {"status", "-l"},
		"status-l":     {"status", "-l"},
		"?kill":        {"help", "kill"},
		"!ls -l":       {"shell", "ls -l"},
		"kill  9":      {"kill", "9"},
		"-x":           {"", "-x"},
	}
	for in, want := range cases {
		v, a := parseLine(in)
		if v != want[0] || a != want[1] {
			t.Errorf("parseLine(%q) = %q %q, want %q", in, v, a, want)
		}
	}
}

func TestPyOSError(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing.log"))
	if got := pyOSError(err, "missing.log"); got != "[Errno 2] No such file or directory: 'missing.log'" {
		t.Errorf("got %q", got)
	}
	if got := pyOSError(syscall.ESRCH, ""); got != "[Errno 3] No such process" {
		t.Errorf("got %q", got)
	}
	if got := pyOSError(errors.New("plain"), ""); got != "plain" {
		t.Errorf("got %q", got)
	}
}

func TestComplete(t *testing.T) {
	c := &Controller{}
	has := func(list []string, w string) bool {
		for _, x := range list {
			if x == w {
				return true
			}
		}
		return false
	}
	if got := c.complete("sta"); !has(got, "start") || !has(got, "status") {
		t.Errorf("verbs: %q", got)
	}
	if got := c.complete("kill "); !has(got, "SIGUSR2") || !has(got, "HUP") {
		t.Errorf("signals: %q", got)
	}
	if got := c.complete("show "); strings.Join(got, " ") != "options python all --json" {
		t.Errorf("show: %q", got)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.log"), nil, 0o644)
	if got := c.complete("logtail " + dir + "/ap"); len(got) != 1 || got[0] != filepath.Join(dir, "app.log") {
		t.Errorf("files: %q", got)
	}
}

// TestCreateDirectoryChown: as root with a user set, a created directory
// is given to that user (zdaemon crashed here with a TypeError, zdaemon fault 3).
func TestCreateDirectoryChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	acct, err := runner.LookupUser("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	c := &Controller{account: acct}
	dir := filepath.Join(t.TempDir(), "run")
	if err := c.createDirectory(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if int(sys.Uid) != acct.UID || int(sys.Gid) != acct.GID || !st.IsDir() {
		t.Errorf("owner %d:%d, want %d:%d", sys.Uid, sys.Gid, acct.UID, acct.GID)
	}
	// An existing directory is left alone.
	if err := c.createDirectory(dir); err != nil {
		t.Errorf("second call: %v", err)
	}
	cred := c.credential()
	if cred == nil || cred.Credential.Uid != uint32(acct.UID) {
		t.Errorf("credential %+v", cred)
	}
}
