package zdctl

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/runner"
)

// command is one verb. run returns the one-shot exit status and whether
// the shell should end (only EOF and quit do).
type command struct {
	name string
	run  func(c *Controller, arg string) (int, bool)
	help string // printed by "help <name>", newline-terminated
}

func keep(f func(c *Controller, arg string) int) func(c *Controller, arg string) (int, bool) {
	return func(c *Controller, arg string) (int, bool) { return f(c, arg), false }
}

var commands []command

func init() {
	fgHelp := "foreground -- Run the program in the forground.\nfg -- an alias for foreground.\n"
	commands = []command{
		{"EOF", func(c *Controller, arg string) (int, bool) { c.println(); return 0, true },
			"To quit, type ^D or use the quit command.\n"},
		{"completion", keep((*Controller).doCompletion),
			"completion bash|zsh|fish -- Print a completion script for that shell.\n"},
		{"fg", keep((*Controller).doForeground), fgHelp},
		{"foreground", keep((*Controller).doForeground), fgHelp},
		{"help", keep((*Controller).doHelp),
			"help          -- Print a list of available actions.\nhelp <action> -- Print help for <action>.\n"},
		{"kill", keep((*Controller).doKill),
			"kill [sig] -- Send signal sig to the daemon process.\n              The default signal is SIGTERM.\n"},
		{"logreopen", keep((*Controller).doLogreopen),
			"logreopen -- Send a SIGUSR2 signal to the daemon process.\n             This is designed to reopen the log file.\n             Also reopens the transcript log file.\n"},
		{"logtail", keep((*Controller).doLogtail),
			"logtail [logfile] -- Run tail -f on the given logfile.\n                     A default file may exist.\n                     Hit ^C to exit this mode.\n"},
		{"quit", func(c *Controller, arg string) (int, bool) { return c.doQuit(arg), true },
			"quit -- Exit the zdctl shell.\n        If the daemon process is not running,\n        stop the daemon manager.\n"},
		{"reload", keep((*Controller).doReload),
			"reload [options] -- Reload the configuration.\n    Without options, this reparses the command line.\n    With options, this substitutes 'options' for the\n    command line, except that if no -C option is given,\n    the last configuration file is used.\n"},
		{"reopen_transcript", keep((*Controller).doReopenTranscript),
			"reopen_transcript -- Reopen the transcript log file.\n                     Use after log rotation.\n"},
		{"restart", keep((*Controller).doRestart),
			"restart -- Stop and then start the daemon process.\n"},
		{"shell", keep((*Controller).doShell),
			"shell [command] -- Execute a shell command.\n                   Without a command, start an interactive sh.\n                   An alias for this command is ! [command]\n"},
		{"show", keep((*Controller).doShow), showHelp},
		{"start", keep((*Controller).doStart),
			"start -- Start the daemon process.\n         If it is already running, do nothing.\n"},
		{"status", keep((*Controller).doStatus),
			"status [-l] -- Print status for the daemon process.\n               With -l, show raw status output as well.\n               With --json, print one JSON object instead.\n"},
		{"stop", keep((*Controller).doStop),
			"stop -- Stop the daemon process.\n        If it is not running, do nothing.\n"},
		{"wait", keep((*Controller).doWait),
			"wait -- Wait for the daemon process to exit.\n"},
	}
}

const showHelp = "show options -- show zdctl options\nshow python -- show Python version and details\nshow all -- show all of the above\nshow [topic] --json -- the same as one JSON object\n"

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func isIdent(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// parseLine is cmd.Cmd.parseline: "?" is help, "!" is shell, the verb is
// the leading identifier characters and the rest is its argument.
func parseLine(line string) (verb, arg string) {
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "?"):
		line = "help " + line[1:]
	case strings.HasPrefix(line, "!"):
		line = "shell " + line[1:]
	}
	i := 0
	for i < len(line) && isIdent(line[i]) {
		i++
	}
	return line[:i], strings.TrimSpace(line[i:])
}

// OneCmd runs one command line as cmd.Cmd.onecmd does: an empty line
// shows the status (one-shot; the shell repeats the last command before
// calling this), an unknown verb is "*** Unknown syntax: <line>".
func (c *Controller) OneCmd(line string) (result int, leave bool) {
	if strings.TrimSpace(line) == "" {
		return c.doStatus(""), false
	}
	verb, arg := parseLine(line)
	cmd := lookup(verb)
	if verb == "" || cmd == nil {
		c.printf("*** Unknown syntax: %s\n", strings.TrimSpace(line))
		return 0, false
	}
	return cmd.run(c, arg)
}

func (c *Controller) doStart(arg string) int {
	c.getStatus()
	switch {
	case !c.up:
		if err := c.spawnZdrun(strings.Fields(arg)); err != nil {
			fmt.Fprintf(c.Stderr, "Error: %v\n", err)
			if c.Opts.Daemon {
				c.printf("daemon manager not running\n")
				return 1
			}
			return 0
		}
	case c.pid == 0:
		c.sendAction("start")
	default:
		c.printf("daemon process already running; pid=%d\n", c.pid)
		return 0
	}
	if !c.Opts.Daemon {
		return 0
	}
	return c.awhile(func() bool { return c.pid != 0 && c.testing == 0 },
		func() string { return fmt.Sprintf("daemon process started, pid=%d", c.pid) }, true)
}

func (c *Controller) doStop(arg string) int {
	c.getStatus()
	switch {
	case !c.up:
		c.printf("daemon manager not running\n")
	case c.pid == 0 && c.shouldBeUp == 0:
		c.printf("daemon process not running\n")
	default:
		c.sendAction("stop")
		return c.awhile(func() bool {
			if c.pid == 0 {
				// With hang-around (seed era) zdrun stays up on purpose.
				c.linger(2*time.Second, func() bool { return c.shouldBeUp == 0 && !c.Opts.HangAround })
				if !c.up {
					c.waitManagerExit(2 * time.Second)
				}
			}
			return c.pid == 0
		}, func() string { return "daemon process stopped" }, false)
	}
	return 0
}

func (c *Controller) doRestart(arg string) int {
	c.getStatus()
	old := c.pid
	if old == 0 {
		// zdaemon's restart drops the start's result, except that a
		// start-timeout exits 1 from inside the wait (zdaemon 5.2.1
		// ZDCmd.do_restart; kept).
		c.timedOut = false
		c.doStart(arg)
		if c.timedOut {
			return 1
		}
		return 0
	}
	c.sendAction("restart")
	return c.awhile(func() bool { return c.pid != old && c.pid != 0 && c.testing == 0 },
		func() string { return fmt.Sprintf("daemon process restarted, pid=%d", c.pid) }, true)
}

func (c *Controller) doStatus(arg string) int {
	long, asJSON, bad := false, false, false
	for _, w := range strings.Fields(arg) {
		switch {
		case w == "-l" && !long:
			long = true
		case w == "--json" && !asJSON:
			asJSON = true
		default:
			bad = true
		}
	}
	if bad {
		// zdaemon's message; --json is zdkit's addition.
		c.printf("status argument must be absent or -l\n")
		return 1
	}
	c.getStatus()
	status := 0
	if !c.up {
		status = 3
	}
	if asJSON {
		// The same states and exit codes as the text; -l adds nothing,
		// the raw fields are always there.
		c.Stdout.Write(c.statusJSON())
		return status
	}
	switch {
	case !c.up:
		c.printf("daemon manager not running\n")
	case c.pid == 0:
		c.printf("daemon manager running; daemon process not running\n")
	default:
		c.printf("program running; pid=%d\n", c.pid)
	}
	if long && c.raw != "" {
		c.printf("%s\n", c.raw)
	}
	return status
}

func (c *Controller) doKill(arg string) int {
	if arg == "" {
		arg = "SIGTERM"
	}
	sig, name, ok := parseSignal(arg)
	if !ok {
		c.printf("invalid signal %s\n", pyrepr.Str(arg))
		return 0
	}
	c.getStatus()
	if c.pid == 0 {
		c.printf("daemon process not running\n")
		return 0
	}
	c.printf("kill(%d, %d)\n", c.pid, int(sig))
	if err := syscall.Kill(c.pid, sig); err != nil {
		c.printf("Error: %s\n", pyOSError(err, ""))
		return 0
	}
	c.printf("signal %s sent to process %d\n", name, c.pid)
	return 0
}

func (c *Controller) doWait(arg string) int {
	c.awhile(func() bool {
		if c.pid == 0 {
			c.linger(500*time.Millisecond, func() bool { return true })
			if !c.up {
				c.waitManagerExit(time.Second)
			}
		}
		return c.pid == 0
	}, func() string { return "daemon process stopped" }, false)
	c.doStatus("")
	return 0 // zdaemon's do_wait returns None whatever status says
}

func (c *Controller) doReopenTranscript(arg string) int {
	if !c.getStatus() {
		c.printf("daemon manager not running\n")
		return 0
	}
	c.sendAction("reopen_transcript")
	return 0
}

func (c *Controller) doLogreopen(arg string) int {
	c.doReopenTranscript("")
	return c.doKill("USR2")
}

func (c *Controller) doForeground(arg string) int {
	c.getStatus()
	if c.pid != 0 {
		c.printf("To run the program in the foreground, please stop it first.\n")
		return 0
	}
	program := append(append([]string(nil), c.Opts.Program...), strings.Fields(arg)...)
	c.printf("%s\n", strings.Join(program, " "))
	path, err := exec.LookPath(program[0])
	if err != nil {
		c.printf("Error: %v\n", err)
		return 0
	}
	cmd := exec.Command(path, program[1:]...)
	cmd.Args[0] = program[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, fileOr(c.Stdout, os.Stdout), fileOr(c.Stderr, os.Stderr)
	cmd.SysProcAttr = c.credential()
	if err := cmd.Start(); err != nil {
		c.printf("Error: %v\n", err)
		return 0
	}
	if c.waitChild(cmd) {
		c.println()
	}
	// zdaemon does not pass the program's exit status on (zdaemon fault 6, kept).
	return 0
}

func (c *Controller) doShell(arg string) int {
	var cmd *exec.Cmd
	if arg == "" {
		sh := os.Getenv("SHELL")
		if sh == "" {
			sh = "/bin/sh"
		}
		cmd = exec.Command(sh)
	} else {
		cmd = exec.Command("/bin/sh", "-c", arg)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, fileOr(c.Stdout, os.Stdout), fileOr(c.Stderr, os.Stderr)
	if err := cmd.Start(); err != nil {
		c.printf("Error: %v\n", err)
		return 0
	}
	c.waitChild(cmd)
	return 0
}

func (c *Controller) doQuit(arg string) int {
	c.getStatus()
	switch {
	case !c.up:
		c.printf("daemon manager not running\n")
	case c.pid == 0:
		c.printf("daemon process not running; stopping daemon manager\n")
		// The seed zdrun had an "exit" command; zdrun 3.0+ exits once
		// nothing should run, which "stop" arranges.
		if reply, _ := c.sendAction("exit"); reply == "" || strings.HasPrefix(reply, "Unknown command") {
			c.sendAction("stop")
		}
		c.awhile(func() bool { return !c.up }, func() string { return "daemon manager stopped" }, false)
	default:
		c.printf("daemon process and daemon manager still running\n")
	}
	return 0
}

func (c *Controller) doReload(arg string) int {
	args := c.argv
	if arg != "" {
		args = strings.Fields(arg)
		if c.Opts.ConfigFile != "" {
			args = append([]string{"-C", c.Opts.ConfigFile}, args...)
		}
	} else {
		// Re-parse the original options only, without the action.
		args = args[:len(args)-len(c.Opts.Args)]
	}
	opts, err := runner.Parse(c.argv0, args, runner.Zdctl)
	if err == nil && len(opts.Args) > 0 {
		err = getopt.Usagef("positional arguments are not supported")
	}
	if err != nil {
		if ue, ok := err.(*getopt.UsageError); ok {
			ue.Report(c.Stderr, c.argv0)
		} else {
			fmt.Fprintf(c.Stderr, "Error: %v\n", err)
		}
		c.printf("Configuration not reloaded\n")
		return 0
	}
	opts.Interactive = c.Opts.Interactive
	c.Opts = opts
	for _, kv := range opts.Environment {
		os.Setenv(kv.Name, kv.Value)
	}
	if opts.ConfigFile != "" {
		c.printf("Configuration reloaded from %s\n", opts.ConfigFile)
	} else {
		c.printf("Configuration reloaded without a config file\n")
	}
	return 0
}
