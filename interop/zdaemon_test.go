package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// pyZdaemon writes a console-script style "zdaemon" for the real Python
// zdctl (as pip would generate it) and returns its path and the
// environment it needs. zdaemon re-executes sys.argv[0] to become zdrun,
// so it must be a real executable file, not "python -m".
func pyZdaemon(t *testing.T) (string, []string) {
	t.Helper()
	exe, pp := python(t)
	abs, err := exec.LookPath(exe)
	if err != nil {
		t.Fatal(err)
	}
	if abs, err = filepath.Abs(abs); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "zdaemon")
	text := "#!" + abs + "\nimport zdaemon.zdctl\nzdaemon.zdctl.main()\n"
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p, []string{"PYTHONPATH=" + pp}
}

// impl is one zdctl implementation.
type impl struct {
	name string
	exe  string
	env  []string
}

func impls(t *testing.T) (py, ours impl) {
	pe, env := pyZdaemon(t)
	// zdctl runs the zdrun found next to its own executable.
	bin(t, "zdrun")
	return impl{"python", pe, env}, impl{"zdkit", bin(t, "zdctl"), nil}
}

var (
	reNum      = regexp.MustCompile(`[0-9]{3,}`)
	reTimeLine = regexp.MustCompile(`(?m)^(now|lasttime)=.*$`)
	// zdaemon polls once a second and so always prints at least one
	// ". " before "daemon process started"; zdkit polls every 50 ms and
	// usually prints none (docs/zdctl.md, "Fast start"). Not compared.
	reDots = regexp.MustCompile(`(?m)^(\. )+$`)
)

func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	s = reTimeLine.ReplaceAllString(s, "$1=T")
	s = reNum.ReplaceAllString(s, "N")
	return reDots.ReplaceAllString(s, "")
}

// step is one zdctl command line, or a pause when args is nil.
type step struct {
	who   int // index into the implementations passed to play
	args  []string
	pause time.Duration
}

// play runs steps in dir and returns a normalised transcript of every
// command's stdout, stderr and exit status.
func play(t *testing.T, dir string, who []impl, steps []step) string {
	t.Helper()
	var b strings.Builder
	for _, s := range steps {
		if s.args == nil {
			time.Sleep(s.pause)
			continue
		}
		im := who[s.who]
		r := run(t, dir, im.env, 60*time.Second, im.exe, s.args...)
		fmt.Fprintf(&b, "$ zdctl %s\n%s--- stderr:\n%s--- exit %d\n",
			strings.Join(s.args, " "), normalize(r.stdout, dir), normalize(r.stderr, dir), r.code)
	}
	return b.String()
}

// listDir lists dir like "ls -A": zdkit's dot-files beside the socket
// (the lock and the state file) must be gone once zdrun has stopped, as
// zdaemon's zdrun left nothing.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// stopAt makes sure no zdrun started in dir outlives the test.
func stopAt(t *testing.T, dir string, im impl, args ...string) {
	t.Cleanup(func() {
		run(t, dir, im.env, 60*time.Second, im.exe, append(args, "stop")...)
	})
}

func p100(args ...string) []string { return append([]string{"-p", "sleep 100"}, args...) }

// The 02-lifecycle/03-restart/04-kill sequence run by the real zdaemon
// and by zdkit must print the same things and exit the same way.
func TestZdctlLifecycleMatchesPython(t *testing.T) {
	py, ours := impls(t)
	steps := []step{
		{args: p100("status")},
		{args: p100("stop")},
		{args: p100("start")},
		{args: p100("status")},
		{args: p100("status", "-l")},
		{args: p100("start")},
		{args: []string{"-p", "sleep 200", "status"}},
		{args: p100("restart")},
		{args: p100("kill")},
		{pause: 1500 * time.Millisecond},
		{args: p100("status")},
		{args: p100("kill", "HUP")},
		{args: p100("kill", "BOGUS")},
		{args: p100("kill", "15")},
		{pause: 1500 * time.Millisecond},
		{args: p100("stop")},
		{args: p100("stop")},
		{args: p100("kill")},
		{args: p100("status")},
		{args: p100("restart")},
		{args: p100("stop")},
	}
	var got [2]string
	for i, im := range []impl{py, ours} {
		dir := t.TempDir()
		stopAt(t, dir, im, "-p", "sleep 100")
		got[i] = play(t, dir, []impl{im}, steps) + "ls: " + listDir(t, dir) + "\n"
	}
	if got[0] != got[1] {
		t.Errorf("zdctl transcripts differ\n--- python:\n%s\n--- zdkit:\n%s", got[0], got[1])
	}
}

// Each zdctl must drive the other's zdrun through the control socket.
func TestZdctlCrossControl(t *testing.T) {
	py, ours := impls(t)
	steps := []step{
		{who: 0, args: p100("start")},
		{who: 1, args: p100("status")},
		{who: 1, args: p100("status", "-l")},
		{who: 1, args: []string{"-p", "sleep 200", "status"}},
		{who: 1, args: p100("start")},
		{who: 1, args: p100("kill", "HUP")},
		{pause: 1500 * time.Millisecond},
		{who: 1, args: p100("status")},
		{who: 1, args: p100("restart")},
		{who: 1, args: p100("stop")},
		{who: 0, args: p100("status")},
	}
	var got [2]string
	for i, pair := range [][]impl{{py, ours}, {ours, py}} {
		dir := t.TempDir()
		stopAt(t, dir, ours, "-p", "sleep 100")
		got[i] = play(t, dir, pair, steps) + "ls: " + listDir(t, dir) + "\n"
	}
	if got[0] != got[1] {
		t.Errorf("cross-control transcripts differ\n--- python zdrun, zdkit zdctl:\n%s\n--- zdkit zdrun, python zdctl:\n%s", got[0], got[1])
	}
	for _, want := range []string{"program running; pid=N", "status=running", "WARNING! zdrun is managing a different program!",
		"signal SIGHUP sent to process N", "daemon process restarted, pid=N", "daemon process stopped", "daemon manager not running\n--- stderr:\n--- exit 3"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("cross-control transcript lacks %q:\n%s", want, got[0])
		}
	}
}

// A zdaemon config file with <runner>, <environment> and <eventlog>: the
// same transcript file, the same zdrun log lines (timestamps and pids
// aside) and the same command output.
func TestZdctlConfigMatchesPython(t *testing.T) {
	py, ours := impls(t)
	var out [2]string
	for i, im := range []impl{py, ours} {
		dir := t.TempDir()
		for _, d := range []string{"sock", "rundir"} {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		prog := filepath.Join(dir, "env.sh")
		// The umask is spelt in letters so that normalize keeps it.
		script := "#!/bin/sh\necho \"FOO=$FOO pwd=$(pwd) umask=$(umask | tr 0-9 a-j)\"\necho to-stderr >&2\nexec sleep 100\n"
		if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`<runner>
  program %[1]s/env.sh
  socket-name %[1]s/sock/zd.sock
  directory %[1]s/rundir
  umask 027
  transcript %[1]s/transcript.log
  backoff-limit 10
  forever false
</runner>
<environment>
  FOO bar-from-config
</environment>
<eventlog>
  <logfile>
    path %[1]s/zdrun.log
  </logfile>
</eventlog>
`, dir)
		if err := os.WriteFile(filepath.Join(dir, "zd.conf"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		stopAt(t, dir, im, "-C", "zd.conf")
		c := []string{"-C", "zd.conf"}
		steps := []step{
			{args: append(c, "start")},
			{args: append(c, "status")},
			{args: append(c, "status", "-l")},
			{pause: 500 * time.Millisecond},
			{args: append(c, "stop")},
			{args: append(c, "status")},
		}
		s := play(t, dir, []impl{im}, steps)
		for _, f := range []string{"transcript.log", "zdrun.log"} {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			text := regexp.MustCompile(`(?m)^[0-9-]+T[0-9:.]+ `).ReplaceAllString(string(data), "TS ")
			s += "=== " + f + "\n" + normalize(text, dir)
		}
		s += "ls: " + listDir(t, dir) + " | sock: " + listDir(t, filepath.Join(dir, "sock")) + "\n"
		out[i] = s
	}
	if out[0] != out[1] {
		t.Errorf("config run differs\n--- python:\n%s\n--- zdkit:\n%s", out[0], out[1])
	}
	if !strings.Contains(out[1], "FOO=bar-from-config pwd=DIR/rundir umask=aach") {
		t.Errorf("program did not get <environment>, directory and umask:\n%s", out[1])
	}
}

// Broken config files must be refused the way zdaemon refuses them: exit
// status 2, and ZConfig's message (without its location, which zdkit
// words differently) contained in ours.
func TestZdctlConfigErrorsMatchPython(t *testing.T) {
	py, ours := impls(t)
	dir := t.TempDir()
	bad := []string{
		"<runner>\n  program sleep 1\n  bogus-key 1\n</runner>\n",
		"<runner>\n  program sleep 1\n  backoff-limit abc\n</runner>\n",
		"<runner>\n  program sleep 1\n",
		"<runner>\n  program $UNDEFINED\n</runner>\n",
		"<runner>\n  program sleep 1\n</runner>\n<bogus>\n</bogus>\n",
		"<runner>\n  program sleep 1\n  umask 999\n</runner>\n",
		"%include nonexistent.conf\n",
		"<runner>\n  program sleep 1\n  forever maybe\n</runner>\n",
		"<runner>\n  program sleep 1\n  program sleep 2\n</runner>\n",
		"<runner>\n  program sleep 1\n  exit-codes 1,x\n</runner>\n",
		"<runner>\n  program sleep 1\n</runner>\n<runner>\n  program sleep 2\n</runner>\n",
	}
	reLoc := regexp.MustCompile(`\s*\(line \d+,? in [^)]*\)$`)
	for i, text := range bad {
		name := fmt.Sprintf("bad%02d.conf", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			theirs := run(t, dir, py.env, 30*time.Second, py.exe, "-C", name, "status")
			mine := run(t, dir, ours.env, 30*time.Second, ours.exe, "-C", name, "status")
			if mine.code != theirs.code {
				t.Errorf("exit %d, python %d", mine.code, theirs.code)
			}
			first := strings.SplitN(theirs.stderr, "\n", 2)[0]
			msg := reLoc.ReplaceAllString(first, "")
			if !strings.HasPrefix(msg, "Error: ") || !strings.Contains(mine.stderr, msg) {
				t.Errorf("config %q\npython: %s\nzdkit:  %s", text, theirs.stderr, mine.stderr)
			}
		})
	}
}
