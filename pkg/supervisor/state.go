package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The state file (<socket>.pid) records the program zdrun is running, so
// that a zdrun started after its predecessor was SIGKILLed (or crashed)
// notices that the old program still runs and does not start a second
// copy. zdaemon kept no such record: a new zdrun found only a
// stale socket and started the program again beside the orphan.
//
// Format, one "key=value" per line: pid, pgid, start (the process's start
// time in clock ticks since boot, /proc/PID/stat field 22, which tells a
// reused pid from the original), manager (zdrun's pid) and args.

// ErrProgramStillRunning is returned (wrapped in *StillRunningError) when
// the program of an earlier zdrun, or processes of its group, still run.
var ErrProgramStillRunning = errors.New("the program of an earlier zdrun is still running")

// StillRunningError names what still runs and how to clear it.
type StillRunningError struct {
	StateFile string
	Pid       int   // the earlier program's pid, if it still runs
	Pgid      int   // its process group
	Members   []int // other processes still in the group
}

func (e *StillRunningError) Error() string {
	what := fmt.Sprintf("the program started by an earlier zdrun (pid %d) is still running", e.Pid)
	if e.Pid == 0 {
		what = fmt.Sprintf("processes of the program started by an earlier zdrun are still running in its process group %d (pids %s)", e.Pgid, joinInts(e.Members))
	}
	return fmt.Sprintf("%s (recorded in %s); not starting a second copy. Stop it (kill -TERM -%d), then start zdrun again", what, e.StateFile, e.Pgid)
}

func (e *StillRunningError) Unwrap() error { return ErrProgramStillRunning }

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

type programState struct {
	pid, pgid int
	start     uint64
}

// procStart returns a process's start time (clock ticks since boot) and
// its process group, from /proc/PID/stat; ok is false for a process that
// does not exist or is a zombie.
func procStart(pid int) (start uint64, pgrp int, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, false
	}
	// Fields after the command: state(3) ppid(4) pgrp(5) ... starttime(22).
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	start, err = strconv.ParseUint(f[19], 10, 64)
	return start, pgrp, err == nil
}

// writeState records the running program; written to a temporary name and
// renamed, so a reader never sees half a file.
func writeState(path string, pid int, args []string) error {
	start, _, _ := procStart(pid)
	body := fmt.Sprintf("pid=%d\npgid=%d\nstart=%d\nmanager=%d\nwritten=%s\nargs=%q\n",
		pid, pid, start, os.Getpid(), time.Now().UTC().Format(time.RFC3339), args)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readState(path string) (programState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return programState{}, err
	}
	var st programState
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "pid":
			st.pid, _ = strconv.Atoi(v)
		case "pgid":
			st.pgid, _ = strconv.Atoi(v)
		case "start":
			st.start, _ = strconv.ParseUint(v, 10, 64)
		}
	}
	if st.pid <= 1 || st.pgid <= 1 {
		return st, fmt.Errorf("state file %s: no valid pid/pgid in %q", path, strings.TrimSpace(string(data)))
	}
	return st, nil
}

// groupMembers lists the live processes whose process group is pgid.
func groupMembers(pgid int) []int {
	if err := syscall.Kill(-pgid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return nil // no such group: the common, fast answer
	}
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pg, ok := procStart(pid); ok && pg == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// CheckPrevious looks at the state file a previous zdrun left (it is
// removed whenever the program is known to be gone, so a file here means
// that zdrun ended without seeing its program end). It returns a
// *StillRunningError if that program, or anything left in its process
// group, still runs; otherwise it removes the stale file and reports
// whether there was one.
//
// zdrun refuses rather than adopts: a process that is not its child can
// never be waited for, so its exit status (exit-codes, crash or clean
// exit) would be lost, and its output went to the dead zdrun's pipe.
func CheckPrevious(path string) (stale bool, err error) {
	st, err := readState(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err == nil {
		if start, _, ok := procStart(st.pid); ok && start == st.start {
			return false, &StillRunningError{StateFile: path, Pid: st.pid, Pgid: st.pgid}
		} else if !ok {
			// The leader is gone; its group lives on while any member
			// does (and its id cannot be reused meanwhile).
			if m := groupMembers(st.pgid); len(m) > 0 {
				return false, &StillRunningError{StateFile: path, Pgid: st.pgid, Members: m}
			}
		}
		// else: the pid now belongs to another process (other start time).
	}
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return true, fmt.Errorf("removing stale state file: %w", rerr)
	}
	return true, nil
}

// StateFileFor is the state file kept next to a control socket.
func StateFileFor(socket string) string { return filepath.Clean(socket) + ".pid" }
