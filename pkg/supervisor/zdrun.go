package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/zdkit/zdkit/pkg/control"
	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/runner"
)

// daemonEnv tells the re-executed zdrun that it is the daemon and which
// descriptor reaches its parent. It is removed from the environment first
// thing, so it never reaches the program (zdaemon did the same with
// DAEMON_MANAGER_MODE, zdaemon 5.2.1 zdctl.ZDCmd.do_start).
const daemonEnv = "ZDKIT_ZDRUN_DAEMON_FD"

// helpNameEnv, when set and not empty, is the name usage errors tell the
// user to ask for help ("For help, use NAME -h"): zdctl sets it to its own
// argv[0], as zdaemon's zdrun (zdctl re-executed) printed zdctl's name.
const helpNameEnv = "ZDCTL_ARGV0"

// Usage is zdrun's -h text.
const Usage = `zdrun -- run a program as a daemon and restart it when it dies.

Usage: zdrun [zdrun-options] program [program-arguments]

Options:
-C/--configure FILE -- configuration file (a <runner> section)
-X key=value -- override a configuration value (needs -C)
-S/--schema FILE -- accepted for compatibility; the schema is built in
-b/--backoff-limit SECONDS -- restart governor limit (default 10)
-d/--daemon -- run as a daemon (the default; "daemon off" in the file turns it off)
-f/--forever -- never give up restarting
-s/--socket-name SOCKET -- control socket (default "zdsock")
-t/--transcript FILE -- file receiving the program's and zdrun's output
-u/--user USER -- run as this user (or numeric uid); root only
-m/--umask UMASK -- umask of the daemon and the program (default 022)
-x/--exit-codes LIST -- exit codes that end zdrun instead of a restart (default "0,2")
-z/--directory DIRECTORY -- directory the daemon and the program run in
--stop-timeout SECONDS -- SIGTERM to SIGKILL delay on stop (default 300)
--settle-time MS -- how long the program must stay up to count as started (default 50)
--metrics-address ADDR -- serve Prometheus metrics at http://ADDR/metrics
  (also $ZDRUN_METRICS_ADDRESS; host:port, :port or a bare port)
-h/--help -- print this message and exit
--version -- print the version and exit
program [program-arguments] -- the program to run (split on spaces, no quoting)

zdrun starts the program, restarts it when it exits (backing off when it dies
quickly), and answers zdctl on the control socket. It exits when the program
is stopped, when the program exits with one of the exit codes (with that
code), or when it gives up restarting (status 1). SIGTERM, SIGINT and SIGHUP
stop the program before zdrun exits; SIGUSR2 reopens the logs.

Environment: NOTIFY_SOCKET (systemd: READY=1 once the program has started,
STOPPING=1 on stop; not passed to the program), ZDRUN_METRICS_ADDRESS,
ZDRUN_CONTROL_LINE_LIMIT (bytes, default 10000) and
ZDRUN_CONTROL_IDLE_TIMEOUT (seconds, default 10) for the control socket.
`

// Main is the zdrun command: args is the whole argv, the result the exit
// status. cmd/zdrun calls it; tests register it with testscript.
func Main(args []string) int {
	return mainIO(args, os.Stdout, os.Stderr)
}

func mainIO(args []string, stdout, stderr io.Writer) int {
	origArgs := args
	prog := "zdrun"
	if len(args) > 0 {
		prog = args[0]
	}
	// zdaemon's zdrun is zdctl re-executed, so its usage errors say "For
	// help, use <zdctl's argv[0]> -h" (interop finding 17). zdctl passes
	// its argv[0] in ZDCTL_ARGV0; like daemonEnv it is removed before
	// anything else, so it reaches neither the daemon nor the program.
	if v, ok := os.LookupEnv(helpNameEnv); ok {
		os.Unsetenv(helpNameEnv)
		if v != "" {
			prog = v
		}
	}
	readyFD := -1
	if v, ok := os.LookupEnv(daemonEnv); ok {
		os.Unsetenv(daemonEnv)
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
			readyFD = fd
		}
	}
	// Descriptors inherited from whoever started zdrun must not reach the
	// program either (zdaemon closed fds 3-99 in the child: zdaemon fault 16).
	closeInheritedOnExec()
	var ue *getopt.UsageError
	metricsFlag, metricsSet, args, err := extractMetricsFlag(args)
	if errors.As(err, &ue) {
		ue.Report(stderr, prog)
		return 2
	}
	opts, err := runner.Parse(prog, args[1:], runner.Zdrun)
	var ex extras
	if err == nil {
		ex, err = loadExtras(opts, metricsFlag, metricsSet)
	}
	switch {
	case errors.Is(err, runner.ErrHelp):
		fmt.Fprint(stdout, Usage)
		return 0
	case errors.Is(err, runner.ErrVersion):
		fmt.Fprintln(stdout, runner.Version)
		return 0
	case errors.As(err, &ue):
		if readyFD >= 0 {
			return reportFailure(os.NewFile(uintptr(readyFD), "ready"), ue.Msg)
		}
		ue.Report(stderr, prog)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "Error: %v\nFor help, use %s -h\n", err, prog)
		return 2
	}
	// The daemon and the foreground manager catch the stop signals from
	// here on (queued until Run acts on them); the first stage of daemon
	// mode keeps the default actions, so ^C or TERM still end it.
	catch := func() <-chan os.Signal {
		// The manager is one loop and a few waiting goroutines: one P is
		// plenty and keeps its memory down (the RSS figure in the docs).
		runtime.GOMAXPROCS(1)
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, StopSignals...)
		return sigs
	}
	for _, kv := range opts.Environment {
		os.Setenv(kv.Name, kv.Value)
	}
	if readyFD >= 0 {
		return daemonStage(opts, ex, os.NewFile(uintptr(readyFD), "ready"), catch())
	}
	// Checks that must reach the caller's terminal as usage errors.
	if len(opts.SocketName) > control.MaxPathLen {
		getopt.Usagef("%v", &control.PathTooLongError{Path: opts.SocketName}).Report(stderr, prog)
		return 2
	}
	if opts.User != "" {
		// Resolve and check here, so that an unknown user or a non-root
		// caller is a usage error on the terminal. Root switches in the
		// daemon, after the re-exec: the user may not be allowed to run
		// this binary from where it is (a private directory).
		acct, err := runner.LookupUser(opts.User)
		if err == nil && (os.Geteuid() != 0 || !opts.Daemon) {
			err = acct.Switch()
		}
		if err != nil {
			if errors.As(err, &ue) {
				ue.Report(stderr, prog)
				return 2
			}
			fmt.Fprintf(stderr, "Error: can't switch to user %s: %v\n", pyrepr.Str(opts.User), err)
			return 1
		}
	}
	if !opts.Daemon {
		return foreground(opts, ex, stderr, catch())
	}
	// The daemon gets the original words (with --metrics-address).
	return firstStage(origArgs, opts, stderr)
}

// firstStage starts the daemon (this program again, in a new session) and
// waits until it reports that the program has started or that it failed,
// so that the caller (zdctl) learns the outcome at once instead of polling
// (zdaemon fault 4, docs/design/supervision.md).
func firstStage(args []string, opts *runner.Options, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "Error: can't find my own executable: %v\n", err)
		return 1
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	defer r.Close()
	env := append(os.Environ(), daemonEnv+"=3")
	p, err := os.StartProcess(exe, args, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{devnull, devnull, devnull, w},
		// setsid: signals to the starting shell or zdctl no longer reach
		// the manager (zdaemon 5.2.1 zdrun.Daemonizer.daemonize).
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	w.Close()
	if err != nil {
		fmt.Fprintf(stderr, "Error: can't start the daemon manager: %v\n", err)
		return 1
	}
	timeout := time.Duration(opts.StartTimeout) * time.Second
	if timeout <= 0 {
		timeout = runner.DefaultStartTimeout * time.Second
	}
	r.SetReadDeadline(time.Now().Add(timeout))
	type outcome struct {
		msg []byte
		err error
	}
	got := make(chan outcome, 1)
	go func() {
		msg, err := io.ReadAll(r)
		got <- outcome{msg, err}
	}()
	// Our only job is to tell our parent (zdctl) how the start went: if
	// the parent goes away, nobody is listening, so do not linger until
	// start-timeout.
	ppid := os.Getppid()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var res outcome
wait:
	for {
		select {
		case res = <-got:
			break wait
		case <-tick.C:
			if os.Getppid() != ppid {
				p.Release()
				return 0
			}
		}
	}
	text := string(res.msg)
	switch {
	case strings.HasPrefix(text, "ready"):
		p.Release()
		return 0
	case res.err != nil && errors.Is(res.err, os.ErrDeadlineExceeded):
		// Not started yet (a start test still failing, a crash loop
		// under forever): leave it to zdctl's start-timeout.
		p.Release()
		return 0
	}
	p.Wait()
	if reason, ok := strings.CutPrefix(text, "error\n"); ok {
		fmt.Fprintln(stderr, strings.TrimRight(reason, "\n"))
	} else {
		fmt.Fprintln(stderr, "daemon manager exited before the program started")
	}
	return 1
}

func reportFailure(ready *os.File, msg string) int {
	fmt.Fprintf(ready, "error\n%s\n", msg)
	ready.Close()
	return 1
}

func openLog(opts *runner.Options) (*logging.Log, error) {
	cfg := logging.Config{}
	if opts.EventLog != nil {
		c, err := logging.FromNode(opts.EventLog)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	return logging.Open(cfg)
}

// daemonStage is the re-executed zdrun: set up as zdrun does after its
// fork (zdaemon 5.2.1 Daemonizer.daemonize), open the socket, run, and tell the first stage.
func daemonStage(opts *runner.Options, ex extras, ready *os.File, sigs <-chan os.Signal) int {
	if opts.User != "" && os.Geteuid() == 0 {
		// setgid, setgroups (every group listing the user), setuid.
		acct, err := runner.LookupUser(opts.User)
		if err == nil {
			err = acct.Switch()
		}
		if err != nil {
			return reportFailure(ready, fmt.Sprintf("can't switch to user %s: %v", pyrepr.Str(opts.User), err))
		}
	}
	lg, err := openLog(opts)
	if err != nil {
		return reportFailure(ready, err.Error())
	}
	defer lg.Close()
	log := lg.Logger(logging.RootName)
	// zdrun.py's daemonize(): after fork the parent logged this at DEBUG
	// and _exit(0)ed while the child logged "daemonizing the process"; in
	// the real log the parent's line comes first (fixture 15-config-runner,
	// level debug). Our first stage does not exit yet (it waits for the
	// outcome: zdaemon fault 4) and opens no log, so the daemon writes the line
	// itself, first, keeping zdrun.log line for line as zdaemon's.
	log.Debugf("daemon manager forked; parent exiting")
	log.Infof("daemonizing the process")
	if opts.Directory != "" {
		if err := os.Chdir(opts.Directory); err != nil {
			log.Warningf("can't chdir into %s: %s", pyrepr.Str(opts.Directory), pyOSError(err))
		} else {
			log.Infof("set current directory: %s", pyrepr.Str(opts.Directory))
		}
	}
	tr, err := OpenTranscript(opts.Transcript)
	if err != nil {
		return reportFailure(ready, err.Error())
	}
	tr.OnDrop = func(err error) {
		log.Errorf("can't write the transcript %s: %v; dropping output until it can be written", opts.Transcript, err)
	}
	tr.Start()
	if err := tr.RedirectStdio(); err != nil {
		return reportFailure(ready, err.Error())
	}
	syscall.Umask(opts.Umask)
	code := serve(opts, ex, lg, tr, ready, sigs)
	// Flush the transcript: point fds 1 and 2 away from the pipe so the
	// copier sees EOF once the program's copies are closed too.
	if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		syscall.Dup3(int(devnull.Fd()), 1, 0)
		syscall.Dup3(int(devnull.Fd()), 2, 0)
		devnull.Close()
	}
	tr.Close()
	return code
}

// foreground is "daemon off": no setsid, chdir, umask or transcript; the
// output stays on the terminal and the caller waits (zdaemon 5.2.1 Daemonizer.run).
func foreground(opts *runner.Options, ex extras, stderr io.Writer, sigs <-chan os.Signal) int {
	lg, err := openLog(opts)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	defer lg.Close()
	return serve(opts, ex, lg, nil, nil, sigs)
}

// serve opens the socket, runs the supervisor and closes the socket. ready
// (daemon mode) hears "ready <pid>" once the program counts as started, or
// "error\n<why>" if zdrun ends first.
func serve(opts *runner.Options, ex extras, lg *logging.Log, tr *Transcript, ready *os.File, sigs <-chan os.Signal) int {
	log := lg.Logger(logging.RootName)
	fail := func(msg string) int {
		if ready != nil {
			return reportFailure(ready, msg)
		}
		fmt.Fprintln(os.Stderr, msg)
		return 1
	}
	ln, err := control.Listen(opts.SocketName)
	if err != nil {
		var are *control.AlreadyRunningError
		if errors.As(err, &are) {
			log.Criticalf("%s", strings.TrimRight(err.Error(), "\n"))
		}
		return fail(strings.TrimRight(err.Error(), "\n"))
	}
	defer ln.Close()
	if ln.Stale {
		log.Warningf("Unlinking stale socket %s", opts.SocketName)
	}
	ln.MaxLine, ln.IdleTimeout = ex.lineLimit, ex.idleTimeout
	ln.Refused = func(uid uint32, pid int32) {
		log.Warningf("refused a command from uid %d (pid %d): only root and the socket's owner are obeyed", uid, pid)
	}
	// We hold the socket's lock, so no other zdkit manager runs here: a
	// state file means the previous one ended without seeing its program
	// end (SIGKILL, crash). Never start a second copy beside it.
	stateFile := StateFileFor(opts.SocketName)
	stale, err := CheckPrevious(stateFile)
	if err != nil {
		log.Criticalf("%v", err)
		return fail(err.Error())
	}
	if stale {
		log.Warningf("removed stale state file %s (its program is gone)", stateFile)
	}
	notify := takeNotifySocket()
	ms, err := startMetrics(ex.metricsAddr)
	if err != nil {
		log.Criticalf("%v", err)
		return fail(err.Error())
	}
	log.Infof("daemon manager started")

	var once sync.Once
	settle := opts.SettleTime
	if settle <= 0 {
		settle = time.Nanosecond // "settle-time 0": started as soon as spawned
	}
	s, err := New(Config{
		Program:      opts.Program,
		Filename:     opts.Filename,
		BackoffLimit: opts.BackoffLimit,
		Forever:      opts.Forever,
		ExitCodes:    opts.ExitCodes,
		StopTimeout:  time.Duration(opts.StopTimeout) * time.Second,
		SettleTime:   settle,
		StartTest:    opts.StartTestProgram,
		Log:          log,
		Reopen: func() error {
			err := lg.Reopen()
			if tr != nil {
				err = errors.Join(err, tr.Reopen())
			}
			return err
		},
		ReapOrphans:   reapsOrphans(),
		HandleSignals: true,
		Signals:       sigs,
		StateFile:     stateFile,
		Stopping: func() {
			if err := notify.send("STOPPING=1\nSTATUS=stopping the program"); err != nil {
				log.Warningf("NOTIFY_SOCKET: %v", err)
			}
		},
		Started: func(pid int) {
			// systemd's main pid is this daemon (the first stage exits).
			if err := notify.send(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=program running (pid %d)", os.Getpid(), pid)); err != nil {
				log.Warningf("NOTIFY_SOCKET: %v", err)
			}
			if ready != nil {
				once.Do(func() {
					fmt.Fprintf(ready, "ready %d\n", pid)
					ready.Close()
				})
			}
		},
	})
	if err != nil {
		ms.close()
		return fail(err.Error())
	}
	go ln.Serve(s.Handle)
	if ms != nil {
		ms.serve(s, tr)
		log.Infof("serving metrics on http://%s/metrics", ms.ln.Addr())
	}
	res := s.Run(context.Background())
	ms.close()
	ln.Close()
	if ready != nil {
		once.Do(func() {
			reason := res.Reason
			if reason == "" {
				reason = "daemon manager exited before the program started"
			}
			reportFailure(ready, reason)
		})
	}
	return res.Code
}

// closeInheritedOnExec marks every descriptor above 2 close-on-exec. Go
// opens its own with O_CLOEXEC; this catches the ones inherited.
func closeInheritedOnExec() {
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
		return
	}
	for fd := 3; fd < 1024; fd++ {
		syscall.CloseOnExec(fd)
	}
}

const prGetChildSubreaper = 37

// reapsOrphans reports whether orphans are re-parented to this process:
// it is PID 1 (a container's init) or a child subreaper.
func reapsOrphans() bool {
	if os.Getpid() == 1 {
		return true
	}
	var v int32
	_, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prGetChildSubreaper, uintptr(unsafe.Pointer(&v)), 0)
	return e == 0 && v != 0
}
