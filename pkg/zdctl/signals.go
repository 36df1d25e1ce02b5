package zdctl

import (
	"strconv"
	"strings"
	"syscall"
)

// pySignals are the names Python's signal module offers on Linux, which
// is what zdaemon's name2signal accepts.
var pySignals = map[string]syscall.Signal{
	"SIGABRT": 6, "SIGALRM": 14, "SIGBUS": 7, "SIGCHLD": 17, "SIGCLD": 17, "SIGCONT": 18,
	"SIGFPE": 8, "SIGHUP": 1, "SIGILL": 4, "SIGINT": 2, "SIGIO": 29, "SIGIOT": 6, "SIGKILL": 9,
	"SIGPIPE": 13, "SIGPOLL": 29, "SIGPROF": 27, "SIGPWR": 30, "SIGQUIT": 3, "SIGRTMAX": 64,
	"SIGRTMIN": 34, "SIGSEGV": 11, "SIGSTKFLT": 16, "SIGSTOP": 19, "SIGSYS": 31, "SIGTERM": 15,
	"SIGTRAP": 5, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGUSR1": 10,
	"SIGUSR2": 12, "SIGVTALRM": 26, "SIGWINCH": 28, "SIGXCPU": 24, "SIGXFSZ": 25,
}

// signalName gives a number the name name2signal picks: the first in
// alphabetical order (6 is SIGABRT, not SIGIOT; 17 SIGCHLD; 29 SIGIO).
func signalName(sig syscall.Signal) string {
	best := ""
	for n, v := range pySignals {
		if v == sig && (best == "" || n < best) {
			best = n
		}
	}
	return best
}

// parseSignal is zdaemon's name2signal: a number of a known signal, or a
// name in any case with or without "SIG"; names with '_' are refused.
func parseSignal(arg string) (syscall.Signal, string, bool) {
	if v, err := strconv.Atoi(strings.TrimSpace(arg)); err == nil {
		name := signalName(syscall.Signal(v))
		if name == "" {
			return 0, "", false
		}
		return syscall.Signal(v), name, true
	}
	if strings.Contains(arg, "_") {
		return 0, "", false
	}
	s := strings.ToUpper(strings.TrimPrefix(arg, "Signals."))
	if !strings.HasPrefix(s, "SIG") {
		s = "SIG" + s
	}
	v, ok := pySignals[s]
	if !ok {
		return 0, "", false
	}
	return v, s, true
}

// signalNames lists the completions for "kill".
func signalNames() []string {
	out := make([]string, 0, len(pySignals))
	for n := range pySignals {
		out = append(out, n)
	}
	return out
}
