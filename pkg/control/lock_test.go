package control

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// dirEntries lists dir's names.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// While listening, the only name without a leading dot is the socket
// (zdaemon 5.2.1's README.rst lists the directory: "zdsock" alone); a
// clean Close leaves nothing in the socket's directory: zdaemon's zdrun
// left nothing (fixture 02-lifecycle ends with an empty "ls -A").
func TestListenCloseLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "zdsock")
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); len(got) != 2 || got[0] != ".zdsock.lock" || got[1] != "zdsock" {
		t.Fatalf("while listening: %q, want [.zdsock.lock zdsock]", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("after Close: %q, want an empty directory", got)
	}
}

// A refused second Listen (the first manager is up) must neither remove
// the holder's lock file nor leave one of its own.
func TestListenRefusedKeepsHolderLock(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "zdsock")
	l := startServer(t, sock, func(string) string { return "application=5\n" })
	before, err := os.Stat(LockFileFor(sock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(sock); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Listen: %v, want ErrAlreadyRunning", err)
	}
	after, err := os.Stat(LockFileFor(sock))
	if err != nil {
		t.Fatalf("holder's lock file gone after a refused Listen: %v", err)
	}
	if !os.SameFile(before, after) {
		t.Error("the lock file was replaced by a refused Listen")
	}
	same, err := namesFile(LockFileFor(sock), l.lock)
	if err != nil || !same {
		t.Errorf("holder's lock no longer named by the path: %v %v", same, err)
	}
}

// A stale lock file (its holder was SIGKILLed: the file stays, unlocked)
// is simply taken over.
func TestFileBeside(t *testing.T) {
	cases := []struct{ socket, ext, want string }{
		{"zdsock", ".lock", ".zdsock.lock"},
		{"/run/app/zeo.zdsock", ".pid", "/run/app/.zeo.zdsock.pid"},
		{"run//app/", ".lock", "run/.app.lock"},
		{"./.hidden", ".lock", "..hidden.lock"},
	}
	for _, c := range cases {
		if got := FileBeside(c.socket, c.ext); got != c.want {
			t.Errorf("FileBeside(%q, %q) = %q, want %q", c.socket, c.ext, got, c.want)
		}
	}
}

func TestListenStaleLockFile(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "zdsock")
	if err := os.WriteFile(LockFileFor(sock), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(sock)
	if err != nil {
		t.Fatalf("Listen over a stale lock file: %v", err)
	}
	l.Close()
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("after Close: %q, want an empty directory", got)
	}
}

// The holder releases (unlink, close) between the acquirer's open and its
// flock: the flock succeeds on an orphaned inode, which must not count.
func TestTakeLockHolderReleasedInWindow(t *testing.T) {
	name := filepath.Join(t.TempDir(), ".zdsock.lock")
	holder, err := takeLock(name)
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	testHookLockOpened = func(attempt int) {
		calls = append(calls, attempt)
		if attempt == 0 {
			releaseLock(name, holder)
		}
	}
	t.Cleanup(func() { testHookLockOpened = nil })
	f, err := takeLock(name)
	if err != nil {
		t.Fatalf("takeLock: %v", err)
	}
	defer releaseLock(name, f)
	if len(calls) != 2 || calls[1] != 1 {
		t.Errorf("open attempts %v, want [0 1] (one retry)", calls)
	}
	if same, err := namesFile(name, f); err != nil || !same {
		t.Errorf("locked file is not the one the path names: %v %v", same, err)
	}
}

// The holder has unlinked its file but not yet closed it (it is exiting)
// when the acquirer flocks: busy, but on an orphaned inode, so it is not
// "another manager is up"; the acquirer opens anew and gets the lock.
func TestTakeLockHolderExitingInWindow(t *testing.T) {
	name := filepath.Join(t.TempDir(), ".zdsock.lock")
	holder, err := takeLock(name)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	testHookLockOpened = func(attempt int) {
		if attempt == 0 {
			if err := os.Remove(name); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { testHookLockOpened = nil })
	f, err := takeLock(name)
	if err != nil {
		t.Fatalf("takeLock while the old holder exits: %v, want the lock", err)
	}
	defer releaseLock(name, f)
	if same, err := namesFile(name, f); err != nil || !same {
		t.Errorf("locked file is not the one the path names: %v %v", same, err)
	}
}

// Mutual exclusion holds while holders keep removing the file on release:
// never two holders at once.
func TestTakeLockExclusiveUnderChurn(t *testing.T) {
	name := filepath.Join(t.TempDir(), ".zdsock.lock")
	const workers, rounds = 8, 500
	var holders, maxHolders, taken atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				f, err := takeLock(name)
				if errors.Is(err, errLockHeld) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				taken.Add(1)
				// Hold it a moment, so that others open the file meanwhile.
				for j := 0; j < 3; j++ {
					runtime.Gosched()
					os.Stat(name)
				}
				holders.Add(-1)
				releaseLock(name, f)
			}
		}()
	}
	wg.Wait()
	if m := maxHolders.Load(); m != 1 {
		t.Errorf("at most %d simultaneous holders, want 1", m)
	}
	if taken.Load() == 0 {
		t.Error("the lock was never taken")
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file left after every holder released: %v", err)
	}
}
