package pgsandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CPUSeconds is the user+system CPU time the server has used so far: the
// postmaster's own, that of its exited children (which the kernel adds to
// the postmaster when it reaps them) and that of its live children
// (backends, checkpointer, WAL writer), read from /proc. Benchmarks use
// it to tell the database's share of a run's CPU from the client's; it is
// 0 where /proc is missing.
func (s *Server) CPUSeconds() float64 {
	pid := s.Pid()
	own, _ := procTimes(pid, true)
	total := own
	entries, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, e := range entries {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(e)))
		if err != nil || child == pid {
			continue
		}
		if t, ppid := procTimes(child, false); ppid == pid {
			total += t
		}
	}
	return total
}

// procTimes reads utime+stime (and, with reaped, cutime+cstime) of pid in
// seconds, and its parent's pid.
func procTimes(pid int, reaped bool) (float64, int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0
	}
	// After the command name (in parentheses, may hold spaces): state,
	// ppid, ... utime is the 12th field from there, stime, cutime, cstime
	// follow; Linux counts them in ticks of 1/100 s (USER_HZ).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	n := 2
	if reaped {
		n = 4
	}
	var ticks float64
	for _, v := range f[11 : 11+n] {
		x, _ := strconv.ParseFloat(v, 64)
		ticks += x
	}
	return ticks / 100, ppid
}
