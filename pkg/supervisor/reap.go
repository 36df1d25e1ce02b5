package supervisor

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// reaper is the single owner of wait4 in the process (docs/design/supervision.md,
// "Reaping"; zdaemon 5.2.1 reaped one child per SIGCHLD). All children are started through it.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan syscall.WaitStatus
	all     int // >0: reap every child (PID 1 / subreaper), orphans included
	orphans func(pid int, ws syscall.WaitStatus)
	sigs    chan os.Signal
}

var (
	theReaper     *reaper
	theReaperOnce sync.Once
)

// getReaper returns the process-wide reaper, starting its goroutine once.
// It must be process-wide: two reapers calling wait4(-1) would steal each
// other's children.
func getReaper() *reaper {
	theReaperOnce.Do(func() {
		r := &reaper{waiters: map[int]chan syscall.WaitStatus{}, sigs: make(chan os.Signal, 1)}
		signal.Notify(r.sigs, syscall.SIGCHLD)
		theReaper = r
		go r.loop()
	})
	return theReaper
}

// reapOrphans switches the reaper to wait4(-1), collecting every child
// including re-parented orphans; report (may be nil) hears about pids
// nobody waits for.
func (r *reaper) reapOrphans(report func(pid int, ws syscall.WaitStatus)) (undo func()) {
	r.mu.Lock()
	r.all++
	r.orphans = report
	r.mu.Unlock()
	r.kick()
	return func() {
		r.mu.Lock()
		r.all--
		if r.all == 0 {
			r.orphans = nil
		}
		r.mu.Unlock()
	}
}

func (r *reaper) kick() {
	select {
	case r.sigs <- syscall.SIGCHLD:
	default:
	}
}

// start forks and execs a child in its own process group and returns its
// pid and the channel its wait status will arrive on. The child is
// registered before the lock is released, so the reaper (which takes the
// lock to deliver a status) can never hold a status for an unknown pid.
func (r *reaper) start(path string, argv []string, attr *syscall.ProcAttr) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiters[pid] = ch
	return pid, ch, nil
}

func (r *reaper) loop() {
	for range r.sigs {
		r.reap()
	}
}

// reap collects every child that has exited. Without orphan reaping only
// registered pids are waited for, so other code in the process (tests, a
// library user's os/exec) keeps its own children's statuses.
func (r *reaper) reap() {
	r.mu.Lock()
	all := r.all > 0
	var pids []int
	if !all {
		pids = make([]int, 0, len(r.waiters))
		for pid := range r.waiters {
			pids = append(pids, pid)
		}
	}
	r.mu.Unlock()
	if all {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || pid <= 0 {
				return
			}
			r.deliver(pid, ws)
		}
	}
	for _, p := range pids {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(p, &ws, syscall.WNOHANG, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err == nil && pid == p {
				r.deliver(pid, ws)
			}
			break
		}
	}
}

func (r *reaper) deliver(pid int, ws syscall.WaitStatus) {
	r.mu.Lock()
	ch, ok := r.waiters[pid]
	delete(r.waiters, pid)
	report := r.orphans
	r.mu.Unlock()
	if ok {
		ch <- ws
	} else if report != nil {
		report(pid, ws)
	}
}
