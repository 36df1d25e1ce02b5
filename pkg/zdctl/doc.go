// Package zdctl is the controller of zdaemon-style daemon managers: the
// zdctl command (zdaemon 5.2.1 zdctl.py, plus the 2003 shell). It talks to zdrun over the control
// socket (pkg/control), starts zdrun when it is not running, and offers
// every zdaemon verb both one-shot ("zdctl -C zd.conf start") and in the
// interactive "zdctl>" shell. One command table serves both, so help
// texts and exit codes have a single source.
//
// Behaviour follows zdaemon 5.x with the seed-era shell added back
// (both eras' features, docs/zdctl.md), and these fixes (zdaemon faults in
// docs/design/supervision.md):
//
//   - A failed start is known at once: zdctl is zdrun's parent and
//     watches it, so when zdrun exits non-zero before its socket answers
//     (bad program, the program died before it settled), "start" ends with
//     "daemon manager not running" and exit 1 immediately, not after ten
//     seconds of polling (#4).
//   - The wait loops poll every 50 ms instead of once a second, so "start"
//     returns as soon as the program is up; the ". " progress dots still
//     appear once per second of waiting.
//   - "stop" (and "wait") linger briefly until zdrun has really gone, so a
//     following "status" reports "daemon manager not running" and not a
//     manager caught in the middle of exiting.
//   - The user is resolved before directories are created and chowned
//     (zdaemon crashed with a TypeError, #3), and zdctl itself never
//     changes uid: zdrun and "fg" are started with the user's credentials,
//     so read-only commands run by root stay root (#20).
//   - "logtail" shows all of the last ten lines and follows growth (#14);
//     "kill" takes names and numbers (#12); "help" covers every verb (#21).
//   - In the shell a blank line repeats the last command, only EOF and
//     quit leave, and a command's exit status never ends the loop.
package zdctl
