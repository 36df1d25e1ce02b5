package instance

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

func writeExe(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestFindProgramOrder(t *testing.T) {
	d := t.TempDir()
	exe, p1, p2 := filepath.Join(d, "exe"), filepath.Join(d, "p1"), filepath.Join(d, "p2")
	writeExe(t, filepath.Join(exe, "zdctl"), 0o755)
	writeExe(t, filepath.Join(p1, "zdctl"), 0o755)
	writeExe(t, filepath.Join(p1, "zdrun"), 0o644) // not executable: skipped
	writeExe(t, filepath.Join(p2, "zdrun"), 0o755)
	if err := os.MkdirAll(filepath.Join(p1, "runzeo"), 0o755); err != nil { // a directory: skipped
		t.Fatal(err)
	}
	writeExe(t, filepath.Join(p2, "runzeo"), 0o755)
	path := p1 + ":" + p2

	got, err := FindProgram("zdctl", exe, path)
	if err != nil || got != filepath.Join(exe, "zdctl") {
		t.Errorf("zdctl = %q, %v; want the one beside mkzeoinst", got, err)
	}
	got, err = FindProgram("zdctl", "", path)
	if err != nil || got != filepath.Join(p1, "zdctl") {
		t.Errorf("zdctl without exe dir = %q, %v", got, err)
	}
	got, err = FindProgram("zdrun", exe, path)
	if err != nil || got != filepath.Join(p2, "zdrun") {
		t.Errorf("zdrun = %q, %v; want p2's (p1's is not executable)", got, err)
	}
	got, err = FindProgram("runzeo", exe, path)
	if err != nil || got != filepath.Join(p2, "runzeo") {
		t.Errorf("runzeo = %q, %v; want p2's (p1's is a directory)", got, err)
	}
	// An empty PATH element is the current directory; the result is
	// made absolute.
	t.Chdir(p2)
	got, err = FindProgram("runzeo", "", "/nonexistent::")
	if err != nil || got != filepath.Join(p2, "runzeo") {
		t.Errorf("runzeo via empty PATH element = %q, %v", got, err)
	}

	_, err = FindProgram("zeoup", exe, path)
	var nf *NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing program: %v", err)
	}
	if want := "can't find 'zeoup' on path '" + path + "'"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}

	progs, err := FindPrograms(exe, path)
	want := Programs{Zdctl: filepath.Join(exe, "zdctl"), Zdrun: filepath.Join(p2, "zdrun"), Runzeo: filepath.Join(p2, "runzeo")}
	if err != nil || progs != want {
		t.Errorf("FindPrograms = %+v, %v", progs, err)
	}
}

func TestParseAddress(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, _ := os.Getwd()
	good := map[string]string{
		"9999": "9999", "1": "1", "65535": "65535", ":8100": ":8100",
		"localhost:8100": "localhost:8100", "127.0.0.1:8100": "127.0.0.1:8100",
		"[::1]:8100": "[::1]:8100", "zeo-1.example.com:8100": "zeo-1.example.com:8100",
		"/run/zeo.sock": "/run/zeo.sock", "var/zeo.sock": filepath.Join(wd, "var/zeo.sock"),
		"./zeo.sock": filepath.Join(wd, "zeo.sock"),
	}
	for in, want := range good {
		got, err := ParseAddress(in)
		if err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"abc":         "the port must be a number",
		"0":           "the port must be a number",
		"65536":       "the port must be a number",
		"-1":          "the port must be a number",
		"+80":         "the port must be a number",
		"080":         "the port must be a number",
		"":            "the port must be a number",
		"host:":       "the port must be a number",
		"::1:80":      "write an IPv6 host in brackets",
		"[::1:80":     "write an IPv6 host in brackets",
		"[zz]:80":     "'zz' is not an IPv6 address",
		"a b:80":      "'a b' is not a host name or address",
		"/tmp/a b":    "a socket path cannot contain white space",
		"h\u00e9st:1": "is not a host name",
	}
	for in, msg := range bad {
		_, err := ParseAddress(in)
		if !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), pyrepr.Str(in)) {
			t.Errorf("ParseAddress(%q) = %v, want %q naming the value", in, err, msg)
		}
	}
}

func TestRenderHasSpecLines(t *testing.T) {
	progs := Programs{Zdctl: "/opt/zd/zdctl", Zdrun: "/opt/zd/zdrun", Runzeo: "/opt/zd/runzeo"}
	files, err := Render("/srv/zeo", "9999", progs, true)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	var order []string
	for _, f := range files {
		byPath[f.Path] = f
		order = append(order, f.Path)
	}
	if got := strings.Join(order, " "); got != "etc/zeo.conf etc/zeoctl.conf bin/zeoctl bin/runzeo etc/zeo.service" {
		t.Errorf("file order %s", got)
	}
	// ZODB3 ZEO/mkzeoinst.py's templates: the lines each file must hold.
	want := map[string][]string{
		"etc/zeo.conf": {"<zeo>", "  address 9999", "  read-only false", "  invalidation-queue-size 100",
			"  # monitor-address PORT", "  # transaction-timeout SECONDS", "  # <ssl>", "  # </ssl>", "</zeo>",
			"<filestorage 1>", "  path /srv/zeo/var/Data.fs", "</filestorage>",
			"<eventlog>", "  level info", "  <logfile>", "    path /srv/zeo/log/zeo.log", "  </logfile>", "</eventlog>"},
		"etc/zeoctl.conf": {"<runner>", "  program /opt/zd/runzeo -C /srv/zeo/etc/zeo.conf",
			"  socket-name /srv/zeo/etc/zeo.zdsock", "  daemon true", "  forever false", "  backoff-limit 10",
			"  exit-codes 0, 2", "  directory /srv/zeo", "  default-to-interactive true", "  # user zope",
			"  zdrun /opt/zd/zdrun", "  logfile /srv/zeo/log/zeo.log", "</runner>",
			"<eventlog>", "  level info", "    path /srv/zeo/log/zeoctl.log", "</eventlog>"},
		"bin/zeoctl": {"#!/bin/sh", "# ZEO instance start script", "# chkconfig: 345 90 10",
			"# description: start a ZEO server", "### BEGIN INIT INFO", "### END INIT INFO",
			`exec /opt/zd/zdctl -C /srv/zeo/etc/zeoctl.conf ${1+"$@"}`},
		"bin/runzeo": {"#!/bin/sh", "# ZEO instance start script: runs the server in the foreground, without",
			`exec /opt/zd/runzeo -C /srv/zeo/etc/zeo.conf "$@"`},
		"etc/zeo.service": {"[Service]", "ExecStart=/opt/zd/runzeo -C /srv/zeo/etc/zeo.conf", "KillSignal=SIGTERM",
			"Restart=on-failure", "RestartPreventExitStatus=2", "TimeoutStopSec=300", "ExecReload=/bin/kill -USR2 $MAINPID",
			"WantedBy=multi-user.target"},
	}
	for p, lines := range want {
		have := map[string]bool{}
		for _, l := range strings.Split(byPath[p].Content, "\n") {
			have[l] = true
		}
		for _, l := range lines {
			if !have[l] {
				t.Errorf("%s lacks the line %q", p, l)
			}
		}
	}
	if !byPath["bin/zeoctl"].Executable || !byPath["bin/runzeo"].Executable || byPath["etc/zeo.conf"].Executable {
		t.Error("wrong executable flags")
	}
	if !strings.HasPrefix(byPath["bin/zeoctl"].Content, "#!/bin/sh\n") {
		t.Error("bin/zeoctl must start with #!/bin/sh")
	}
}

func TestRenderQuoting(t *testing.T) {
	progs := Programs{Zdctl: "/opt/it's/zdctl", Zdrun: "/opt/zd/zdrun", Runzeo: "/opt/100%/runzeo"}
	files, err := Render("/srv/a$b", "9999", progs, true)
	if err != nil {
		t.Fatal(err)
	}
	all := ""
	for _, f := range files {
		all += f.Content
	}
	for _, s := range []string{
		"  path /srv/a$$b/var/Data.fs",                            // ZConfig: $$ is a dollar
		`exec '/opt/it'\''s/zdctl' -C '/srv/a$b'/etc/zeoctl.conf`, // sh: single quotes
		"ExecStart=/opt/100%%/runzeo -C /srv/a$$b/etc/zeo.conf",   // systemd specifiers and $
		"WorkingDirectory=/srv/a$b",                               // not expanded there
	} {
		if !strings.Contains(all, s) {
			t.Errorf("rendered files lack %q", s)
		}
	}
	_, err = Render("/srv/a b", "9999", progs, false)
	if !errors.Is(err, ErrBadHome) || !strings.Contains(err.Error(), "'/srv/a b'") {
		t.Errorf("white space in home: %v", err)
	}
	_, err = Render("/srv/ab", "9999", Programs{Zdctl: "/x", Zdrun: "/y", Runzeo: "/bin dir/runzeo"}, false)
	if !errors.Is(err, ErrBadHome) || !strings.Contains(err.Error(), "'/bin dir/runzeo'") {
		t.Errorf("white space in a program path: %v", err)
	}
}

func TestMakeDirectoriesAndFiles(t *testing.T) {
	d := t.TempDir()
	bin := filepath.Join(d, "bin")
	for _, n := range ProgramNames {
		writeExe(t, filepath.Join(bin, n), 0o755)
	}
	home := filepath.Join(d, "x", "y", "zeo")
	var out bytes.Buffer
	if err := Make(Options{Home: home, PathEnv: bin, Out: &out}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantPrefix := []string{
		"Created directory " + filepath.Join(d, "x"),
		"Created directory " + filepath.Join(d, "x", "y"),
		"Created directory " + home,
		"Created directory " + home + "/etc",
		"Created directory " + home + "/var",
		"Created directory " + home + "/log",
		"Created directory " + home + "/bin",
		"Wrote file " + home + "/etc/zeo.conf",
	}
	if len(lines) < len(wantPrefix) {
		t.Fatalf("output %q", out.String())
	}
	for i, w := range wantPrefix {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i+1, lines[i], w)
		}
	}
	if lines[len(lines)-1] != "All done." {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
	um := currentUmask()
	fi, err := os.Stat(filepath.Join(home, "bin", "zeoctl"))
	if err != nil || fi.Mode().Perm() != os.FileMode(0o777&^um) {
		t.Errorf("bin/zeoctl mode %v (umask %o), %v", fi.Mode(), um, err)
	}
	fi, err = os.Stat(filepath.Join(home, "etc", "zeoctl.conf"))
	if err != nil || fi.Mode().Perm() != os.FileMode(0o666&^um) {
		t.Errorf("etc/zeoctl.conf mode %v, %v", fi.Mode(), err)
	}

	// Nothing is created when a program is missing.
	other := filepath.Join(d, "other")
	err = Make(Options{Home: other, PathEnv: filepath.Join(d, "nowhere"), Out: &out})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Make without programs = %v", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("home created although the programs are missing: %v", err)
	}
}

func TestPyRepr(t *testing.T) {
	cases := map[string]string{
		"/srv/zeo": "'/srv/zeo'", "it's": `"it's"`, `a'b"c`: `'a\'b"c'`, "a\\b": `'a\\b'`, "t\tn\n": `'t\tn\n'`,
	}
	for in, want := range cases {
		if got := pyrepr.Str(in); got != want {
			t.Errorf("pyrepr.Str(%q) = %s, want %s", in, got, want)
		}
	}
}
