package zdctl

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ExitDenied is zdctl's exit status when zdrun's control socket refuses
// it: LSB 5.0 Core "Init Script Actions", status 4, "user had insufficient
// privilege". zdaemon 5.2.1 treated a refused connect like a missing
// socket ("daemon manager not running", status 0 for stop), so an init
// script believed a stop it was not allowed to make had worked.
const ExitDenied = 4

// deniedPrefix starts zdrun's reply to a caller it does not obey
// (control.RefusalReply: SO_PEERCRED, neither root nor the socket's owner).
const deniedPrefix = "Permission denied"

// DeniedError says that the control socket could not be used by this
// user: connect(2) failed with EACCES/EPERM, or zdrun refused the caller.
type DeniedError struct {
	Socket string
	Owner  string // "root (uid 0)", or the directory's owner when the socket cannot be looked at
	Caller string // the user zdctl runs as, "nobody (uid 65534)"
	Reason string // "connect: permission denied" or zdrun's reply
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("Permission denied: control socket %s %s; zdctl runs as %s (%s)",
		e.Socket, e.Owner, e.Caller, e.Reason)
}

// isDenied reports whether a call error or a reply means the socket
// refused this user, and if so describes it.
func isDenied(socket, reply string, err error) *DeniedError {
	var reason string
	switch {
	case err != nil && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)):
		reason = "connect: " + syscall.EACCES.Error()
		if errors.Is(err, syscall.EPERM) {
			reason = "connect: " + syscall.EPERM.Error()
		}
	case err == nil && strings.HasPrefix(reply, deniedPrefix):
		reason = "zdrun says: " + strings.TrimSpace(reply)
	default:
		return nil
	}
	owner := "has an unknown owner"
	if fi, err := os.Stat(socket); err == nil {
		owner = "belongs to " + describeUID(fi.Sys().(*syscall.Stat_t).Uid)
	} else if dir := filepath.Dir(socket); dir != "" {
		if fi, err := os.Stat(dir); err == nil {
			owner = "is in " + dir + ", which belongs to " + describeUID(fi.Sys().(*syscall.Stat_t).Uid)
		}
	}
	return &DeniedError{Socket: socket, Owner: owner, Caller: describeUID(uint32(os.Geteuid())), Reason: reason}
}

// describeUID is "name (uid N)", or "uid N" without a passwd entry.
func describeUID(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// managerVerbs are the verbs that act through zdrun's socket: refused
// there, each prints the DeniedError and gives ExitDenied instead of
// taking the manager for absent.
var managerVerbs = map[string]bool{
	"start": true, "stop": true, "restart": true, "status": true,
	"kill": true, "wait": true, "reopen_transcript": true, "logreopen": true,
	"quit": true, "fg": true, "foreground": true,
}
