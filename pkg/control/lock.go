package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// FileBeside names a file zdkit keeps next to the control socket: the
// socket's name with a leading dot and ext ("zdsock" gives ".zdsock" +
// ext). zdaemon 5.2.1's README.rst lists the socket's directory while
// zdrun runs and shows only the socket; zdrun.py keeps nothing beside it.
// The dot keeps zdkit's additions (the lock, the state file) out of ls.
func FileBeside(socket, ext string) string {
	dir, base := filepath.Split(filepath.Clean(socket))
	return filepath.Join(dir, "."+base+ext)
}

// LockFileFor is the lock file a zdkit manager flocks for its socket's
// whole life (see Listen).
func LockFileFor(socket string) string { return FileBeside(socket, ".lock") }

// errLockHeld means another live manager holds the socket's lock.
var errLockHeld = errors.New("lock held by another manager")

// lockAttempts bounds takeLock's retries. Each retry follows a holder
// that unlinked the lock file between our open and our flock/stat (it was
// exiting); a few are plenty, the bound only rules out an endless loop
// against a directory that keeps churning.
const lockAttempts = 100

// testHookLockOpened, set only by tests, runs between takeLock's open and
// its flock: the window in which an exiting holder may unlink the file.
var testHookLockOpened func(attempt int)

// takeLock opens (creating it if needed) and exclusively flocks name.
//
// The holder unlinks its lock file when it exits (releaseLock), so that a
// stopped manager leaves nothing beside its socket, as zdaemon's zdrun
// (fixture 02-lifecycle ends with an empty directory). An acquirer may
// therefore open a file that is unlinked right after: its flock then
// succeeds once the old holder is gone, yet locks an inode nobody else
// will ever open. So after flock (whether it succeeded or found the lock
// busy) the path must still name the inode we hold; if not, open again.
// No sleep is involved: a busy lock on the current inode is a live
// manager, reported at once.
func takeLock(name string) (*os.File, error) {
	for attempt := 0; attempt < lockAttempts; attempt++ {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if testHookLockOpened != nil {
			testHookLockOpened(attempt)
		}
		ferr := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if ferr != nil && !errors.Is(ferr, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, ferr
		}
		same, err := namesFile(name, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if !same {
			// The holder unlinked it (exiting) after our open: the lock
			// that counts is on whatever the name holds now.
			f.Close()
			continue
		}
		if ferr != nil {
			f.Close()
			return nil, errLockHeld
		}
		return f, nil
	}
	return nil, fmt.Errorf("%s keeps being replaced (%d attempts)", name, lockAttempts)
}

// namesFile reports whether name currently refers to the open file f
// (false if name no longer exists).
func namesFile(name string, f *os.File) (bool, error) {
	var held, cur syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &held); err != nil {
		return false, err
	}
	if err := syscall.Stat(name, &cur); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return held.Dev == cur.Dev && held.Ino == cur.Ino, nil
}

// releaseLock removes the lock file while still holding the lock, then
// releases it. Whoever opened the old file before the unlink finds, after
// its own flock, that the name no longer refers to it and opens anew
// (takeLock); so removing it reopens no race. The name is removed only if
// it still refers to our file, never a successor's.
func releaseLock(name string, f *os.File) {
	if same, err := namesFile(name, f); err == nil && same {
		os.Remove(name)
	}
	f.Close()
}
