// Package supervisor is zdrun's daemon manager: it runs one program, restarts
// it by zdaemon's policy, answers the control-socket commands, copies output
// into the transcript, and stops the program when asked or when zdrun itself
// is told to stop.
//
// It follows zdaemon 5.2.1's zdrun.py with the faults listed in
// docs/design/supervision.md fixed:
//
//   - The main loop is one goroutine fed by channels (child exits, control
//     commands, signals, timers), so there is no async-signal logic and no
//     select/EINTR race (fault 10).
//   - Exactly one owner calls wait4: the reaper. Children are started under
//     the reaper's lock and registered before the lock is released, so no
//     exit status can be collected for a pid nobody is waiting for. When
//     zdrun is PID 1 or a child subreaper the reaper also collects orphans
//     with wait4(-1); it then still hands the program's and start-test's
//     statuses to their waiters (hashicorp/go-reap is not used: it reaps
//     whatever exits and reports pids without statuses, so it would take
//     the program's exit status from the restart policy).
//   - The program runs in its own process group; stop, restart and the
//     SIGKILL escalation signal the whole group. stop-timeout always has a
//     value (300 s by default, fault 1) and SIGKILL is re-sent every
//     backoff-limit seconds until the program is gone.
//   - SIGTERM, SIGINT and SIGHUP to zdrun stop the program (TERM, then KILL
//     after stop-timeout) before zdrun exits 1 (fault 2); SIGUSR2 reopens
//     zdrun's own logs and the transcript; SIGUSR1 is caught and ignored.
//     Handled (not ignored) signals revert to their default in the program.
//   - Every descriptor is close-on-exec (fault 16): only stdin, stdout and
//     stderr reach the program.
//   - The transcript copier never blocks the program: if the file cannot be
//     written (disk full) the output is dropped and counted, and copying
//     resumes when writes succeed again (fault 8).
//   - A state file next to the socket (<socket>.pid) records the running
//     program; a zdrun started after its predecessor was SIGKILLed refuses
//     to start a second copy while that program (or its process group)
//     still runs (CheckPrevious).
//   - Processes left in the program's group when it exits are killed, so
//     they neither run beside the next copy nor outlive a stop.
//   - NOTIFY_SOCKET (systemd) hears READY=1 once the program has started
//     and STOPPING=1 on stop; an optional HTTP endpoint serves Prometheus
//     metrics (NewMetricsRegistry, pkg/metrics).
package supervisor
