package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unicode"

	"github.com/zdkit/zdkit/pkg/control"
	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// DefaultSettleTime is how long a spawn must stay up to count as started
// when there is no start-test-program (zdctl's start waits for it; zdaemon
// 5.2.1 counted a spawn as started at once, even one that crashed at once).
const DefaultSettleTime = 50 * time.Millisecond

// Config is what the manager needs to run one program.
type Config struct {
	Program  []string // the program words; Program[0] is argv[0] as written
	Filename string   // the resolved path executed (status "filename=")

	BackoffLimit int           // backoff-limit; values below 1 act as 1 (zdaemon fault 17)
	Forever      bool          // forever
	ExitCodes    []int         // exit-codes
	StopTimeout  time.Duration // stop-timeout; 0 = never escalate to SIGKILL
	SettleTime   time.Duration // how long a spawn must live to count as started; 0 = DefaultSettleTime
	StartTest    []string      // start-test-program words; nil = none

	Dir            string   // the program's working directory; "" = inherit
	Env            []string // the program's environment; nil = os.Environ()
	Stdout, Stderr *os.File // the program's stdout/stderr; nil = os.Stdout/os.Stderr

	// Log receives zdrun's event-log records; nil = WARNING and above
	// to stderr as bare messages (Python logging's last resort).
	Log *logging.Logger
	// Reopen is run by reopen_transcript and SIGUSR2: reopen the event
	// log and the transcript (zdaemon faults 12-13). nil = nothing.
	Reopen func() error
	// ReapOrphans makes the reaper collect every child with wait4(-1):
	// set it when zdrun is PID 1 or a child subreaper.
	ReapOrphans bool
	// HandleSignals makes Run handle SIGTERM, SIGINT, SIGHUP, SIGUSR1 and
	// SIGUSR2 sent to the process.
	HandleSignals bool
	// Signals, if set, is used instead of HandleSignals' own registration:
	// zdrun registers at start-up so that a signal arriving before Run is
	// not lost (or fatal), and Run acts on it first thing.
	Signals <-chan os.Signal
	// Started, if set, is called (from the main loop) each time a spawn
	// counts as started: it lived SettleTime, or start-test succeeded.
	Started func(pid int)
	// Stopping, if set, is called (from the main loop) when the program
	// is to stay down: stop, exit, or a stop signal to zdrun.
	Stopping func()
	// StateFile, if set, records the running program's pid, process group
	// and start time (see CheckPrevious); it is removed when the program
	// is gone.
	StateFile string
}

// StopSignals are the signals zdrun handles (zdaemon 5.2.1 Daemonizer.setsignals; fault 2).
var StopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}

// Result is how a Run ended.
type Result struct {
	Code   int    // zdrun's exit status
	Reason string // why, for the daemonizing parent ("" for a normal stop)
	// EverStarted reports whether any spawn counted as started.
	EverStarted bool
}

type request struct {
	line  string
	fn    func() // run in the main loop instead of a command line
	reply chan string
}

type testResult struct {
	pid    int
	ok     bool
	raised bool
}

// Supervisor runs the program. Create it with New, serve Handle on the
// control socket, and call Run once.
type Supervisor struct {
	cfg  Config
	log  *logging.Logger
	cmds map[string]control.Command

	reqs   chan request
	testCh chan testResult
	done   chan struct{}

	// Owned by the Run goroutine.
	shouldBeUp bool
	delay      time.Time // next spawn, or the SIGKILL deadline while killing
	backoff    int
	lasttime   time.Time
	pid        int
	exitCh     <-chan syscall.WaitStatus
	killing    bool
	testing    bool
	testCancel chan struct{}
	settleC    <-chan time.Time
	settlePid  int
	everSpawn  bool
	started    bool
	sigExit    string // the signal that is stopping zdrun, if any
	spawns     int    // successful spawns
	lastExit   int    // last exit: code, or minus the signal number
	exited     bool   // lastExit is set
	stopNoted  bool   // Stopping was called for the current stop
	finished   bool
	result     Result
}

// New checks cfg and returns a Supervisor.
func New(cfg Config) (*Supervisor, error) {
	if len(cfg.Program) == 0 || cfg.Program[0] == "" {
		return nil, errors.New("supervisor: no program specified")
	}
	if cfg.Filename == "" {
		return nil, errors.New("supervisor: the program's resolved path is empty")
	}
	if cfg.BackoffLimit < 1 {
		// zdrun busy-looped with backoff-limit 0 (zdaemon fault 17).
		cfg.BackoffLimit = 1
	}
	if cfg.SettleTime <= 0 {
		cfg.SettleTime = DefaultSettleTime
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	s := &Supervisor{
		cfg:    cfg,
		log:    cfg.Log,
		reqs:   make(chan request),
		testCh: make(chan testResult),
		done:   make(chan struct{}),
	}
	if s.log == nil {
		l, err := logging.Open(logging.Config{})
		if err != nil {
			return nil, err
		}
		s.log = l.Logger(logging.RootName)
	}
	s.cmds = map[string]control.Command{
		"status":            {Help: "report the manager's and the program's state", Run: s.cmdStatus},
		"start":             {Help: "start the program if it is not running", Run: s.cmdStart},
		"stop":              {Help: "stop the program (SIGTERM, SIGKILL after stop-timeout); the manager then exits", Run: s.cmdStop},
		"restart":           {Help: "stop the program if running, then start it", Run: s.cmdRestart},
		"kill":              {Help: "kill [N] -- send signal N (default 15) to the program", Run: s.cmdKill},
		"exit":              {Help: "stop the program if running, then exit (seed-era zdrun; zdctl's quit)", Run: s.cmdExit},
		"reopen_transcript": {Help: "reopen the transcript and the event log (empty reply)", Run: s.cmdReopen},
	}
	return s, nil
}

// Handle answers one control-socket command line; it is safe for
// concurrent use and is what control.Listener.Serve calls. Commands run in
// the main loop one at a time, as in zdrun.
func (s *Supervisor) Handle(line string) string {
	r := request{line: line, reply: make(chan string, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return ""
	}
	select {
	case rep := <-r.reply:
		return rep
	case <-s.done:
		select {
		case rep := <-r.reply:
			return rep
		default:
			return ""
		}
	}
}

// Run spawns the program and supervises it until it is stopped, zdrun
// gives up, the program exits with one of the exit codes, or a stop signal
// (or ctx's cancellation, which acts like SIGTERM) has stopped it.
func (s *Supervisor) Run(ctx context.Context) Result {
	defer close(s.done)
	r := getReaper()
	if s.cfg.ReapOrphans {
		defer r.reapOrphans(func(pid int, ws syscall.WaitStatus) {
			s.log.Debugf("unknown process %d exited: %s", pid, describe(ws))
		})()
	}
	sigCh := s.cfg.Signals
	if sigCh == nil && s.cfg.HandleSignals {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, StopSignals...)
		defer signal.Stop(ch)
		sigCh = ch
	}
	ctxDone := ctx.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	s.shouldBeUp = true

	for !s.finished && (s.shouldBeUp || s.pid != 0) {
		if s.shouldBeUp && s.pid == 0 && s.delay.IsZero() {
			s.spawn()
			continue
		}
		var timerC <-chan time.Time
		if !s.delay.IsZero() {
			d := time.Until(s.delay)
			if d <= 0 {
				s.delay = time.Time{}
				if s.killing && s.pid != 0 {
					s.log.Warningf("process %d did not stop in time; sending SIGKILL", s.pid)
					s.signalGroup(syscall.SIGKILL)
					s.delay = time.Now().Add(s.limit())
				}
				continue
			}
			timer.Reset(d)
			timerC = timer.C
		}
		select {
		case ws := <-s.exitCh:
			s.childExited(s.pid, ws)
		case req := <-s.reqs:
			if req.fn != nil {
				req.fn()
				req.reply <- ""
			} else {
				req.reply <- control.Dispatch(s.cmds, req.line)
			}
		case sig := <-sigCh:
			s.onSignal(sig.(syscall.Signal))
		case <-ctxDone:
			ctxDone = nil
			s.onSignal(syscall.SIGTERM)
		case tr := <-s.testCh:
			s.onTest(tr)
		case <-s.settleC:
			s.settleC = nil
			if s.pid != 0 && s.pid == s.settlePid && !s.testing {
				s.markStarted()
			}
		case <-timerC:
		}
		timer.Stop()
	}
	s.stopTests()
	s.removeState()
	if !s.finished {
		if s.sigExit != "" {
			s.result = Result{Code: 1, Reason: "daemon manager killed by " + s.sigExit}
		}
	}
	s.log.Infof("Exiting")
	s.result.EverStarted = s.started
	return s.result
}

func (s *Supervisor) limit() time.Duration { return time.Duration(s.cfg.BackoffLimit) * time.Second }

// finish makes Run return with code once the current iteration ends.
func (s *Supervisor) finish(code int, reason string) {
	s.finished = true
	s.result = Result{Code: code, Reason: reason}
}

func (s *Supervisor) spawn() {
	now := time.Now()
	s.lasttime = now
	attr := &syscall.ProcAttr{
		Dir:   s.cfg.Dir,
		Env:   s.env(),
		Files: []uintptr{0, s.cfg.Stdout.Fd(), s.cfg.Stderr.Fd()},
		// Its own process group, so stop reaches the program's children.
		Sys: &syscall.SysProcAttr{Setpgid: true},
	}
	pid, ch, err := getReaper().start(s.cfg.Filename, s.cfg.Program, attr)
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ENOMEM) {
			// zdrun: "fork failed", retry after backoff-limit seconds.
			s.log.Errorf("can't fork: %s", pyOSError(err))
			s.delay = now.Add(s.limit())
			return
		}
		msg := fmt.Sprintf("can't exec %s: %s", pyrepr.Str(s.cfg.Filename), pyOSError(err))
		fmt.Fprintln(s.cfg.Stderr, msg)
		if !s.everSpawn {
			// Nothing ever ran: say so at once rather than crash-looping
			// (the daemonizing parent reports it to zdctl: zdaemon fault 4).
			s.finish(1, msg)
			return
		}
		// Later exec failures count as a crash with status 127, as the
		// forked Python child exited 127.
		s.pid = -1
		s.childExited(-1, syscall.WaitStatus(127<<8))
		return
	}
	s.everSpawn = true
	s.spawns++
	s.stopNoted = false
	s.pid, s.exitCh = pid, ch
	s.log.Infof("spawned process pid=%d", pid)
	if s.cfg.StateFile != "" {
		if err := writeState(s.cfg.StateFile, pid, s.cfg.Program); err != nil {
			s.log.Errorf("can't record the program in %s: %v", s.cfg.StateFile, err)
		}
	}
	if len(s.cfg.StartTest) > 0 {
		s.testing = true
		s.testCancel = make(chan struct{})
		go s.runTests(pid, s.testCancel)
	} else {
		s.settlePid = pid
		s.settleC = time.After(s.cfg.SettleTime)
	}
}

func (s *Supervisor) env() []string {
	if s.cfg.Env != nil {
		return s.cfg.Env
	}
	return os.Environ()
}

func (s *Supervisor) markStarted() {
	s.started = true
	if s.cfg.Started != nil {
		s.cfg.Started(s.pid)
	}
}

// childExited is zdrun's reportstatus (zdaemon 5.2.1 Daemonizer.reportstatus).
func (s *Supervisor) childExited(pid int, ws syscall.WaitStatus) {
	code, text := decode(ws)
	msg := fmt.Sprintf("pid %d: %s", pid, text)
	if pid != s.pid {
		s.log.Warningf("unknown(!=%d) %s", s.pid, msg)
		return
	}
	s.log.Debugf("controlled process %d exited", pid)
	s.lastExit, s.exited = code, true
	if ws.Signaled() {
		s.lastExit = -int(ws.Signal())
	}
	if pid > 0 {
		s.killGroupRemnants(pid)
	}
	s.removeState()
	s.stopTests()
	s.settleC = nil
	s.pid, s.exitCh = 0, nil
	killing := s.killing
	if killing {
		s.killing = false
		s.delay = time.Time{}
	} else {
		// exit-codes override the restart policy (zdaemon 5.2.1 component.xml, exit-codes), so they are
		// checked before the governor can give up.
		if slices.Contains(s.cfg.ExitCodes, code) {
			s.log.Infof("%s; exiting now", msg)
			s.finish(code, msg+"; exiting now")
			return
		}
		if s.governor() {
			return
		}
	}
	s.log.Infof("%s", msg)
}

// killGroupRemnants kills what is left of the program's process group
// after the program itself has exited: children it forked and left behind
// (or that ignored the SIGTERM of a stop). Left alone they would run beside
// the next copy (holding its port, its files) and outlive zdrun; zdaemon
// left them. A program must not daemonize under zdrun, so everything in
// its group belongs to the copy that just ended.
func (s *Supervisor) killGroupRemnants(pgid int) {
	if err := syscall.Kill(-pgid, 0); err != nil {
		return // ESRCH: nothing left (the usual case)
	}
	s.log.Warningf("process group %d still has processes after pid %d exited; sending SIGKILL", pgid, pgid)
	syscall.Kill(-pgid, syscall.SIGKILL)
}

func (s *Supervisor) removeState() {
	if s.cfg.StateFile == "" {
		return
	}
	if err := os.Remove(s.cfg.StateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Errorf("can't remove %s: %v", s.cfg.StateFile, err)
	}
}

// noteStopping tells Config.Stopping (systemd's STOPPING=1) once per stop.
func (s *Supervisor) noteStopping() {
	if s.stopNoted || s.cfg.Stopping == nil {
		return
	}
	s.stopNoted = true
	s.cfg.Stopping()
}

// Metrics is a snapshot of the manager's state for the metrics endpoint.
type Metrics struct {
	Up             bool    // the program runs
	ShouldBeUp     bool    // it is meant to run
	Spawns         int     // successful spawns so far
	Restarts       int     // spawns after the first
	LastExitStatus int     // exit code, or minus the signal number; 0 before any exit
	Exited         bool    // LastExitStatus is meaningful
	Backoff        int     // the current backoff step
	BackoffSeconds float64 // time left until a pending respawn (0 if none)
	Testing        bool    // start-test-program is running
}

// Metrics returns a snapshot taken in the main loop (so it is consistent
// with the status reply); ok is false once Run has returned.
func (s *Supervisor) Metrics() (m Metrics, ok bool) {
	r := request{reply: make(chan string, 1)}
	r.fn = func() {
		m = Metrics{
			Up: s.pid > 0, ShouldBeUp: s.shouldBeUp, Spawns: s.spawns,
			Restarts: max(s.spawns-1, 0), LastExitStatus: s.lastExit, Exited: s.exited,
			Backoff: s.backoff, Testing: s.testing,
		}
		if !s.killing && !s.delay.IsZero() {
			m.BackoffSeconds = max(time.Until(s.delay).Seconds(), 0)
		}
	}
	select {
	case s.reqs <- r:
	case <-s.done:
		return Metrics{}, false
	}
	select {
	case <-r.reply:
		return m, true
	case <-s.done:
		return Metrics{}, false
	}
}

// governor is zdrun's restart policy (zdaemon 5.2.1 Daemonizer.governor). It reports whether zdrun
// gave up.
func (s *Supervisor) governor() bool {
	if s.lasttime.IsZero() {
		return false
	}
	now := time.Now()
	limit := s.cfg.BackoffLimit
	if now.Sub(s.lasttime) < s.limit() {
		s.backoff++
		if s.backoff >= limit {
			if s.cfg.Forever {
				s.backoff = limit
			} else {
				s.log.Criticalf("restarting too frequently; quit")
				s.finish(1, "restarting too frequently; quit")
				return true
			}
		}
		s.log.Infof("sleep %d to avoid rapid restarts", s.backoff)
		s.delay = now.Add(time.Duration(s.backoff) * time.Second)
	} else {
		s.backoff = 0
		s.delay = time.Time{}
	}
	return false
}

// signalGroup signals the program's process group (it was made a group
// leader at spawn); if the program has left its group, the pid itself.
func (s *Supervisor) signalGroup(sig syscall.Signal) error {
	if s.pid <= 0 {
		return syscall.ESRCH
	}
	err := syscall.Kill(-s.pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		err = syscall.Kill(s.pid, sig)
	}
	return err
}

// beginStop sends SIGTERM and arms the SIGKILL deadline (zdaemon 5.2.1 Daemonizer.cmd_stop, with fault 1 fixed).
func (s *Supervisor) beginStop() {
	s.signalGroup(syscall.SIGTERM)
	s.killing = true
	if s.cfg.StopTimeout > 0 {
		s.delay = time.Now().Add(s.cfg.StopTimeout)
	}
}

func (s *Supervisor) resetPolicy() {
	s.backoff = 0
	s.delay = time.Time{}
	s.killing = false
}

func (s *Supervisor) onSignal(sig syscall.Signal) {
	switch sig {
	case syscall.SIGUSR1:
		s.log.Debugf("received SIGUSR1; ignored")
	case syscall.SIGUSR2:
		s.log.Infof("received SIGUSR2; reopening logs")
		s.reopen()
	default:
		name := signame(sig)
		if s.sigExit != "" {
			// A second stop signal: do not wait for stop-timeout.
			s.log.Criticalf("daemon manager killed by %s again; sending SIGKILL", name)
			if s.pid != 0 {
				s.signalGroup(syscall.SIGKILL)
			}
			return
		}
		s.sigExit = name
		// zdrun exited here and orphaned the program (zdaemon fault 2); stop the
		// program first, then exit 1.
		s.log.Criticalf("daemon manager killed by %s", name)
		s.shouldBeUp = false
		s.noteStopping()
		s.resetPolicy()
		if s.pid != 0 {
			s.beginStop()
		}
	}
}

func (s *Supervisor) reopen() {
	if s.cfg.Reopen == nil {
		return
	}
	if err := s.cfg.Reopen(); err != nil {
		s.log.Errorf("reopening logs: %v", err)
	}
}

func (s *Supervisor) cmdStatus([]string) string {
	st := control.Status{
		Running:      s.pid != 0,
		Now:          epoch(time.Now()),
		ShouldBeUp:   b2i(s.shouldBeUp),
		Delay:        epoch(s.delay),
		Backoff:      s.backoff,
		LastTime:     epoch(s.lasttime),
		Application:  max(s.pid, 0),
		Testing:      b2i(s.testing),
		Manager:      os.Getpid(),
		BackoffLimit: s.cfg.BackoffLimit,
		Filename:     s.cfg.Filename,
		Args:         s.cfg.Program,
	}
	return st.Format()
}

func (s *Supervisor) cmdStart([]string) string {
	if s.sigExit != "" {
		return "Daemon manager is exiting"
	}
	s.shouldBeUp = true
	s.resetPolicy()
	if s.pid == 0 {
		s.spawn()
		return "Application started"
	}
	return "Application already started"
}

func (s *Supervisor) cmdStop([]string) string {
	s.shouldBeUp = false
	s.noteStopping()
	s.resetPolicy() // also cancels a pending respawn (zdaemon issue #13)
	if s.pid != 0 {
		s.beginStop()
		return "Sent SIGTERM"
	}
	return "Application already stopped"
}

// cmdExit is the seed-era zdrun's "exit" (used by zdctl's quit): like
// stop, with its own replies; zdrun exits 0 once the program is gone.
func (s *Supervisor) cmdExit([]string) string {
	s.shouldBeUp = false
	s.noteStopping()
	s.resetPolicy()
	if s.pid != 0 {
		s.beginStop()
		return "Sent SIGTERM; will exit later"
	}
	return "Exiting now"
}

func (s *Supervisor) cmdRestart([]string) string {
	if s.sigExit != "" {
		return "Daemon manager is exiting"
	}
	s.shouldBeUp = true
	s.resetPolicy()
	if s.pid != 0 {
		s.beginStop()
		return "Sent SIGTERM; will restart later"
	}
	s.spawn()
	return "Application started"
}

func (s *Supervisor) cmdKill(args []string) string {
	sig := int(syscall.SIGTERM)
	if len(args) > 0 {
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return "Bad signal " + pyrepr.Str(args[0])
		}
		sig = n
	}
	if s.pid == 0 {
		return "Application not running"
	}
	// Like zdrun, "kill" signals the program itself, not its group.
	if err := syscall.Kill(s.pid, syscall.Signal(sig)); err != nil {
		return fmt.Sprintf("Kill %d failed: %s", sig, pyOSError(err))
	}
	return fmt.Sprintf("Signal %d sent", sig)
}

// cmdReopen replies with nothing, as zdrun does (kept: zdaemon fault 18).
func (s *Supervisor) cmdReopen([]string) string {
	s.reopen()
	return ""
}

func (s *Supervisor) runTests(pid int, cancel <-chan struct{}) {
	send := func(tr testResult) {
		select {
		case s.testCh <- tr:
		case <-cancel:
		case <-s.done:
		}
	}
	words := s.cfg.StartTest
	for {
		path, err := exec.LookPath(words[0])
		var tpid int
		var ch <-chan syscall.WaitStatus
		if err == nil {
			tpid, ch, err = getReaper().start(path, words, &syscall.ProcAttr{
				Dir: s.cfg.Dir, Env: s.env(),
				Files: []uintptr{0, s.cfg.Stdout.Fd(), s.cfg.Stderr.Fd()},
				Sys:   &syscall.SysProcAttr{Setpgid: true},
			})
		}
		if err != nil {
			s.log.Criticalf("start test raised: %v", err)
			send(testResult{pid: pid, raised: true})
			return
		}
		var ws syscall.WaitStatus
		select {
		case ws = <-ch:
		case <-cancel:
			syscall.Kill(-tpid, syscall.SIGKILL)
			<-ch
			return
		}
		if ws.Exited() && ws.ExitStatus() == 0 {
			s.log.Debugf("start test succeeded")
			send(testResult{pid: pid, ok: true})
			return
		}
		s.log.Debugf("start test failed")
		select {
		case <-time.After(time.Second):
		case <-cancel:
			return
		}
	}
}

func (s *Supervisor) onTest(tr testResult) {
	if tr.pid != s.pid {
		return
	}
	s.testing = false
	if s.testCancel != nil {
		s.testCancel = nil // the tester has returned
	}
	if tr.ok {
		s.markStarted()
	}
}

func (s *Supervisor) stopTests() {
	if s.testCancel != nil {
		close(s.testCancel)
		s.testCancel = nil
	}
	s.testing = false
}

// decode turns a wait status into zdrun's exit code and text (zdaemon 5.2.1 Daemonizer.reportstatus):
// "exit status N", or code -1 and "terminated by SIGNAME [(core dumped)]".
func decode(ws syscall.WaitStatus) (int, string) {
	switch {
	case ws.Exited():
		return ws.ExitStatus(), fmt.Sprintf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		text := "terminated by " + signame(ws.Signal())
		if ws.CoreDump() {
			text += " (core dumped)"
		}
		return -1, text
	default:
		return -1, fmt.Sprintf("unknown termination cause 0x%04x", uint32(ws))
	}
}

func describe(ws syscall.WaitStatus) string { _, t := decode(ws); return t }

var signames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP",
	syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN", syscall.SIGTTOU: "SIGTTOU",
	syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
	syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF", syscall.SIGWINCH: "SIGWINCH",
	syscall.SIGIO: "SIGIO", syscall.SIGSYS: "SIGSYS",
}

// signame is zdaemon's get_signal_name: "SIGTERM", or "signal N".
func signame(sig syscall.Signal) string {
	if n, ok := signames[sig]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// pyOSError formats an errno the way Python prints an OSError:
// "[Errno 2] No such file or directory".
func pyOSError(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		t := []rune(en.Error())
		if len(t) > 0 {
			t[0] = unicode.ToUpper(t[0])
		}
		return fmt.Sprintf("[Errno %d] %s", int(en), string(t))
	}
	return err.Error()
}

func epoch(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
