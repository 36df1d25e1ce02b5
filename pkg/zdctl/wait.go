package zdctl

import (
	"os"
	"syscall"
	"time"
)

// awhile is zdaemon's wait loop: poll until cond holds, writing ". " for
// every second spent waiting, then a newline and the message. It fails
// with "daemon manager not running" when the manager is gone after having
// answered or has never answered for neverSeenGrace. With forStart, it
// also enforces start-timeout ("Program took too long to start").
//
// When this session has just spawned zdrun (daemon mode), zdrun's first
// stage is the authority on the start (zdaemon fault 4): it exits 0 once the
// program counts as started (it stayed up for the settle time, or its
// start test passed) and non-zero as soon as the start failed. So the
// wait succeeds only after that exit, and a failure ends it at once
// instead of after ten seconds of polling; a program seen running in the
// status but dying before it settled is never reported as started.
// Ctrl-C prints "^C" and ends the wait (seed zdctl).
func (c *Controller) awhile(cond func() bool, msg func() string, forStart bool) int {
	start := time.Now()
	seen := c.getStatus()
	dots := 0
	pending := forStart && c.spawned != nil // waiting for zdrun's verdict
	childFailed := false
	timeout := time.Duration(c.Opts.StartTimeout) * time.Second
	for {
		for time.Since(start) >= time.Duration(dots+1)*time.Second {
			c.printf(". ")
			dots++
		}
		if forStart && time.Since(start) > timeout {
			c.printf("\nProgram took too long to start\n")
			c.timedOut = true
			c.abandonFirstStage()
			return 1
		}
		if !pending && cond() {
			break
		}
		if !c.up && (seen || childFailed || time.Since(start) > neverSeenGrace) {
			c.printf("\ndaemon manager not running\n")
			return 1
		}
		timer := time.NewTimer(pollInterval)
		select {
		case <-timer.C:
		case err := <-c.spawned:
			c.spawned = nil
			c.relayFirstStage()
			pending = false
			childFailed = err != nil
		case <-c.intr:
			timer.Stop()
			c.printf("^C\n")
			c.abandonFirstStage()
			return 0
		}
		timer.Stop()
		if c.getStatus() {
			seen = true
		}
	}
	c.printf("\n%s\n", msg())
	return 0
}

// linger keeps polling, for at most d, while the manager is still up
// with no program and keep(…) holds: zdrun exits right after its program
// is stopped, and reporting "stopped" while it is still on its way out
// would make an immediately following "status" see a half-dead manager.
func (c *Controller) linger(d time.Duration, keep func() bool) {
	deadline := time.Now().Add(d)
	for c.up && c.pid == 0 && keep() && time.Now().Before(deadline) {
		time.Sleep(pollInterval / 5)
		c.getStatus()
	}
}

// waitManagerExit waits, for at most d, until the zdrun that served the
// socket has really exited: zdkit's zdrun holds an flock on "<socket>.lock"
// until its last moment, and a "start" issued right after "stop" returned
// would otherwise find it still held ("Another zrdun is already up").
func (c *Controller) waitManagerExit(d time.Duration) {
	f, err := os.Open(c.Opts.SocketName + ".lock")
	if err != nil {
		return // no lock file: a Python zdrun, or already cleaned up
	}
	defer f.Close()
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			return
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
