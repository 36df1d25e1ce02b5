package zdctl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/zdkit/zdkit/pkg/control"
	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/runner"
)

// Usage is zdctl's -h text: zdaemon's, naming the Go program and the
// options zdkit adds (-i, -X, --stop-timeout, --settle-time).
const Usage = `zdctl -- control an application run by zdaemon.

Usage: zdctl [-C URL] [-S schema.xml] [-h] [-p PROGRAM]
       [zdrun-options] [action [arguments]]

Options:
-b/--backoff-limit SECONDS -- set backoff limit to SECONDS (default 10)
-C/--configure URL -- configuration file or URL
-d/--daemon -- run as a proper daemon; fork a subprocess, close files etc.
-f/--forever -- run forever (by default, exit when backoff limit is exceeded)
-h/--help -- print this usage message and exit
-i/--interactive -- start an interactive shell after executing commands
-t/--transcript FILE -- log file where to redirect stdout and stderr
-l/--logfile -- log file to be read by logtail command
-p/--program PROGRAM -- the program to run
-S/--schema XML Schema -- XML schema for configuration file
-T/--start-timeout SECONDS -- Start timeout when a test program is used
-s/--socket-name SOCKET -- Unix socket name for client (default "zdsock")
-u/--user USER -- run as this user (or numeric uid)
-m/--umask UMASK -- use this umask for daemon subprocess (default is 022)
-x/--exit-codes LIST -- list of fatal exit codes (default "0,2")
-X key=value -- override a configuration file setting (repeatable)
--stop-timeout SECONDS -- SIGKILL the program this long after SIGTERM (default 300)
--settle-time MS -- a new program counts as started after MS milliseconds up (default 50)
--version -- print zdaemon version and exit
-z/--directory DIRECTORY -- directory to chdir to when using -d (default off)
action [arguments] -- see below

Actions are commands like "start", "stop" and "status".  If -i is
specified or no action is specified on the command line, a "shell"
interpreting actions typed interactively is started (unless the
configuration option default-to-interactive is set to false).  Use the
action "help" to find out about available actions.
`

// pollInterval is how often the wait loops ask zdrun for its status.
// zdaemon polled once a second, which made every start take a second.
const pollInterval = 50 * time.Millisecond

// neverSeenGrace is how long a wait loop keeps polling a manager that has
// never answered before it gives up (zdaemon: more than 10 polls).
const neverSeenGrace = 10 * time.Second

// Controller is one zdctl session.
type Controller struct {
	Opts   *runner.Options
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
	argv0  string
	argv   []string // the original arguments, for reload

	account *runner.Account // resolved "user"; nil when unset

	// Latest status, as zdaemon's zd_up / zd_pid / zd_should_be_up /
	// zd_testing / zd_status.
	up         bool
	pid        int
	shouldBeUp int
	testing    int
	raw        string

	// spawned reports the exit of the zdrun this session started (its
	// first stage, which exits once the program is up or the start failed).
	spawned    chan error
	firstStage *os.Process
	// firstStageErr is the part of the first stage's stderr to show,
	// set before its exit is sent on spawned.
	firstStageErr string
	intr          chan os.Signal
	last          string // the shell's last command

	jsonOut  bool // one-shot --json: warnings go to stderr
	timedOut bool // the last wait ended in "Program took too long to start"
	fresh    bool // the status fields were just fetched by setUp
}

// Main runs zdctl with argv (argv[0] first) and returns the exit status.
func Main(argv []string, stdin *os.File, stdout, stderr io.Writer) int {
	argv0 := "zdctl"
	if len(argv) > 0 {
		argv0 = argv[0]
		argv = argv[1:]
	}
	if len(argv) > 0 && argv[0] == "completion" {
		// Needs no program or configuration: answered before
		// the options are checked.
		return writeCompletion(stdout, stderr, strings.Join(argv[1:], " "))
	}
	opts, err := runner.Parse(argv0, argv, runner.Zdctl)
	switch {
	case errors.Is(err, runner.ErrHelp):
		io.WriteString(stdout, Usage)
		return 0
	case errors.Is(err, runner.ErrVersion):
		fmt.Fprintln(stdout, runner.Version)
		return 0
	case err != nil:
		return usageExit(err, stderr, argv0)
	}
	interactive := opts.Interactive || (len(opts.Args) == 0 && opts.DefaultToInteractive)
	if len(opts.Args) == 0 && !interactive {
		return usageExit(getopt.Usagef("either -i or an action argument is required"), stderr, argv0)
	}
	c := &Controller{Opts: opts, Stdin: stdin, Stdout: stdout, Stderr: stderr, argv0: argv0, argv: argv}
	// A one-shot --json answer must be the only thing on stdout, so a
	// different-program warning goes to stderr then.
	c.jsonOut = slices.Contains(opts.Args, "--json")
	c.intr = make(chan os.Signal, 1)
	line := strings.Join(opts.Args, " ")
	if verb, _ := parseLine(line); interactive || !quickVerbs[verb] {
		signal.Notify(c.intr, os.Interrupt)
		defer signal.Stop(c.intr)
	}
	if err := c.setUp(); err != nil {
		return usageExit(err, stderr, argv0)
	}
	result := 0
	if len(opts.Args) > 0 {
		result, _ = c.OneCmd(line)
	}
	if interactive {
		c.Shell()
		return 0
	}
	return result
}

// quickVerbs answer at once and never wait on anything ^C should
// interrupt. Run one-shot, they leave SIGINT its default action: catching
// it costs the process a thread (the runtime's signal receiver), a
// measurable part of a one-shot "zdctl status" (our budget: 2 ms or less).
var quickVerbs = map[string]bool{
	"status": true, "show": true, "help": true, "completion": true,
	"kill": true, "reopen_transcript": true, "logreopen": true,
}

func usageExit(err error, stderr io.Writer, argv0 string) int {
	var ue *getopt.UsageError
	if errors.As(err, &ue) {
		ue.Report(stderr, argv0)
	} else {
		fmt.Fprintf(stderr, "Error: %v\nFor help, use %s -h\n", err, argv0)
	}
	return 2
}

func (c *Controller) printf(format string, args ...any) { fmt.Fprintf(c.Stdout, format, args...) }
func (c *Controller) println(args ...any)               { fmt.Fprintln(c.Stdout, args...) }

// setUp does what zdaemon's ZDCmd.__init__ does before any command: the
// different-program warning, <environment> export, directory creation,
// and the user check.
func (c *Controller) setUp() error {
	c.getStatus()
	c.fresh = true
	c.warnDifferentProgram()
	for _, kv := range c.Opts.Environment {
		os.Setenv(kv.Name, kv.Value)
	}
	if c.Opts.User != "" {
		acct, err := runner.LookupUser(c.Opts.User)
		if err != nil {
			return err
		}
		if euid := os.Geteuid(); euid != 0 && euid != acct.UID {
			return getopt.Usagef("only root can use -u USER to change users")
		}
		c.account = acct
	}
	if c.Opts.Directory != "" {
		if err := c.createDirectory(c.Opts.Directory); err != nil {
			return err
		}
	}
	if dir := filepath.Dir(c.Opts.SocketName); strings.Contains(c.Opts.SocketName, "/") && dir != "" {
		if err := c.createDirectory(dir); err != nil {
			return err
		}
	}
	return nil
}

// createDirectory makes one missing directory level; run as root with a
// user set, it hands the directory to that user (zdaemon meant to, and
// crashed instead: zdaemon fault 3).
func (c *Controller) createDirectory(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	if err := os.Mkdir(dir, 0o777); err != nil {
		return fmt.Errorf("cannot create directory %s: %w", pyrepr.Str(dir), err)
	}
	if c.account != nil && os.Geteuid() == 0 && c.account.UID != 0 {
		if err := os.Chown(dir, c.account.UID, c.account.GID); err != nil {
			return fmt.Errorf("cannot give directory %s to user %s: %w", pyrepr.Str(dir), c.account.Name, err)
		}
	}
	return nil
}

func (c *Controller) warnDifferentProgram() {
	if !c.up {
		return
	}
	st, _ := control.ParseStatus(c.raw)
	if !st.ArgsOK {
		return
	}
	prog := c.Opts.Program
	same := len(st.Args) >= len(prog)
	for i := 0; same && i < len(prog); i++ {
		same = st.Args[i] == prog[i]
	}
	if !same {
		w := c.Stdout
		if c.jsonOut {
			w = c.Stderr
		}
		fmt.Fprintln(w, "WARNING! zdrun is managing a different program!")
		fmt.Fprintln(w, "our program   =", pyrepr.List(prog))
		fmt.Fprintln(w, "daemon's args =", pyrepr.List(st.Args))
	}
}

// sendAction sends one command to zdrun and returns the reply; ok is
// false when zdrun could not be reached.
func (c *Controller) sendAction(action string) (string, bool) {
	reply, err := call(c.Opts.SocketName, action)
	return reply, err == nil
}

// getStatus refreshes the status fields, as zdaemon's get_status. The
// status fetched by setUp serves the first command's first look (zdaemon
// asked twice in a row; one round trip less makes a one-shot "status"
// measurably faster and the answer is microseconds old).
func (c *Controller) getStatus() bool {
	if c.fresh {
		c.fresh = false
		return c.up
	}
	c.up, c.pid, c.shouldBeUp, c.testing, c.raw = false, 0, 0, 0, ""
	reply, ok := c.sendAction("status")
	if !ok || reply == "" {
		return false
	}
	st, ok := control.ParseStatus(reply)
	if !ok {
		return false
	}
	c.up, c.pid, c.shouldBeUp, c.testing, c.raw = true, st.Application, st.ShouldBeUp, st.Testing, reply
	return true
}

// credential is the SysProcAttr that runs a child as the configured user
// (only root switches; anyone else was checked to be that user already).
func (c *Controller) credential() *syscall.SysProcAttr {
	if c.account == nil || os.Geteuid() != 0 {
		return nil
	}
	groups := make([]uint32, len(c.account.Groups))
	for i, g := range c.account.Groups {
		groups[i] = uint32(g)
	}
	return &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(c.account.UID), Gid: uint32(c.account.GID), Groups: groups}}
}

// zdrunPath finds the manager: the "zdrun" option, else "zdrun" next to
// this executable, else on $PATH.
func (c *Controller) zdrunPath() (string, error) {
	if c.Opts.Zdrun != "" {
		// An existing path, relative to the current directory, never
		// a name to look up on $PATH.
		return filepath.Abs(c.Opts.Zdrun)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "zdrun")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("zdrun")
}

// spawnZdrun starts zdrun for the program plus extra. In daemon mode it
// returns at once and reports zdrun's exit on c.spawned; otherwise it
// waits for zdrun, as zdaemon does ("daemon off" makes start block).
func (c *Controller) spawnZdrun(extra []string) error {
	path, err := c.zdrunPath()
	if err != nil {
		return fmt.Errorf("cannot find zdrun: %w", err)
	}
	cmd := exec.Command(path, c.Opts.ZdrunArgs(extra)...)
	cmd.Args[0] = "zdrun"
	// zdaemon's zdrun is zdctl's own argv[0] run again, so its usage
	// errors end "For help, use <zdctl's argv[0]> -h". zdrun takes that
	// name from ZDCTL_ARGV0 and removes it from its environment at once,
	// so neither the daemon nor the program sees it (interop finding 17).
	cmd.Env = append(os.Environ(), "ZDCTL_ARGV0="+c.argv0)
	cmd.Stdout, cmd.Stderr = fileOr(c.Stdout, os.Stdout), fileOr(c.Stderr, os.Stderr)
	cmd.SysProcAttr = c.credential()
	if !c.Opts.Daemon {
		cmd.Stdin = c.Stdin
		if err := cmd.Start(); err != nil {
			return err
		}
		c.waitChild(cmd)
		return nil
	}
	// zdaemon's zdctl shows nothing of a failed start but "daemon manager
	// not running": its zdrun has already daemonized when the program
	// fails. Our first stage waits for the verdict and prints the reason
	// ("pid N: exit status 2; exiting now"); that reason is in zdrun's
	// log and transcript, so it is captured here and dropped, and only
	// zdrun's own usage errors reach the terminal (interop finding 17).
	// The daemon stage gets /dev/null for its stdio, so this pipe closes
	// when the first stage exits.
	var firstErr bytes.Buffer
	cmd.Stderr = &firstErr
	if err := cmd.Start(); err != nil {
		return err
	}
	spawned := make(chan error, 1)
	c.spawned = spawned
	c.firstStage = cmd.Process
	go func() {
		err := cmd.Wait()
		c.firstStageErr = usageLines(firstErr.String(), c.argv0)
		spawned <- err
	}()
	return nil
}

// usageLines keeps what zdaemon's zdctl would show of its zdrun's stderr:
// the usage error ("Error: can't stat program './nonexistent'") and what
// follows it, nothing when there is none. Python's zdrun is zdctl's own
// argv[0] run again, so its help line names zdctl; a zdrun that ignores
// ZDCTL_ARGV0 says "zdrun", and the line is rewritten to name argv0.
func usageLines(text, argv0 string) string {
	i := strings.Index(text, "Error: ")
	if i < 0 || (i > 0 && text[i-1] != '\n') {
		return ""
	}
	text = text[i:]
	return strings.ReplaceAll(text, "For help, use zdrun -h\n", "For help, use "+argv0+" -h\n")
}

// relayFirstStage prints the usage error of the zdrun first stage that
// has just exited (see spawnZdrun).
func (c *Controller) relayFirstStage() {
	if c.firstStageErr != "" {
		io.WriteString(c.Stderr, c.firstStageErr)
		c.firstStageErr = ""
	}
}

// fileOr hands a child our own stream when w is one, so that no copying
// goroutine keeps zdctl waiting on a daemon that inherited it.
func fileOr(w io.Writer, f *os.File) io.Writer {
	if ff, ok := w.(*os.File); ok {
		return ff
	}
	if w == nil {
		return f
	}
	return w
}

// waitChild waits for a foreground child; Ctrl-C reaches the child
// through the terminal and only interrupts the wait here.
func (c *Controller) waitChild(cmd *exec.Cmd) (interrupted bool) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	for {
		select {
		case <-done:
			return interrupted
		case <-c.intr:
			interrupted = true
		}
	}
}

func (c *Controller) drainInterrupts() {
	for {
		select {
		case <-c.intr:
		default:
			return
		}
	}
}

// abandonFirstStage ends a zdrun first stage still waiting for the
// daemon's verdict when zdctl stops waiting (start-timeout, ^C): it is only
// a messenger, the daemon runs in its own session and keeps running, and
// nothing should be left behind waiting for a reader that is gone.
func (c *Controller) abandonFirstStage() {
	if c.spawned != nil && c.firstStage != nil {
		c.firstStage.Kill()
		<-c.spawned
		c.spawned = nil
		c.firstStageErr = ""
	}
}
