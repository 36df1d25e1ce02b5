package supervisor

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Transcript copies everything written to a pipe into a file opened in
// append mode (zdaemon 5.2.1 zdrun.Transcript). In daemon mode the pipe's write end becomes
// zdrun's stdout and stderr, so the program, which inherits them, writes
// there too.
type Transcript struct {
	path string
	r, w *os.File

	mu      sync.Mutex
	f       *os.File
	dropped int64 // bytes not written since the last successful write
	lastErr error
	total   atomic.Int64 // bytes dropped over the transcript's life

	// OnDrop, if set before Start, is called (from the copier) when
	// output starts being dropped, once per episode, so the manager can
	// log it; the file itself cannot say so while it fails.
	OnDrop func(err error)

	done chan struct{}
}

// OpenTranscript opens path for appending (created 0666 minus the umask,
// as Python's open(path, "a")) and makes the pipe. Call Start to begin
// copying.
func OpenTranscript(path string) (*Transcript, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("transcript: %w", err)
	}
	r, w, err := os.Pipe() // both ends close-on-exec
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("transcript: pipe: %w", err)
	}
	return &Transcript{path: path, r: r, w: w, f: f, done: make(chan struct{})}, nil
}

func openAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
}

// Path is the transcript file name.
func (t *Transcript) Path() string { return t.path }

// Writer is the pipe's write end (what the program's stdout/stderr become).
func (t *Transcript) Writer() *os.File { return t.w }

// RedirectStdio makes the pipe zdrun's own fds 1 and 2 (daemon mode).
func (t *Transcript) RedirectStdio() error {
	for _, fd := range []int{1, 2} {
		if err := syscall.Dup3(int(t.w.Fd()), fd, 0); err != nil {
			return fmt.Errorf("transcript: redirect fd %d: %w", fd, err)
		}
	}
	return nil
}

// Start runs the copier goroutine.
func (t *Transcript) Start() { go t.copy() }

func (t *Transcript) copy() {
	defer close(t.done)
	buf := make([]byte, 32*1024)
	for {
		n, err := t.r.Read(buf)
		if n > 0 {
			t.write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// write never lets a failing file stop the copying (zdaemon's copier
// thread died on a full disk and the program then blocked on a full pipe,
// zdaemon fault 8 in docs/design/supervision.md): output that cannot be written is dropped and counted, and
// the first successful write afterwards notes how much was lost.
func (t *Transcript) write(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped > 0 {
		note := fmt.Sprintf("zdrun: %d bytes of output were dropped: %v\n", t.dropped, t.lastErr)
		if _, err := t.f.Write([]byte(note)); err != nil {
			t.dropped += int64(len(p))
			t.lastErr = err
			t.total.Add(int64(len(p)))
			return
		}
		t.dropped = 0
	}
	if _, err := t.f.Write(p); err != nil {
		if t.dropped == 0 && t.OnDrop != nil {
			t.OnDrop(err)
		}
		t.dropped += int64(len(p))
		t.lastErr = err
		t.total.Add(int64(len(p)))
	}
}

// Dropped is the number of bytes of output dropped so far because the
// file could not be written.
func (t *Transcript) Dropped() int64 { return t.total.Load() }

// Reopen opens the file anew (after log rotation renamed it) and swaps it
// in; the new file is opened before the old one is closed, so nothing is
// lost. On error the old file stays in use.
func (t *Transcript) Reopen() error {
	nf, err := openAppend(t.path)
	if err != nil {
		return fmt.Errorf("transcript: reopen: %w", err)
	}
	t.mu.Lock()
	old := t.f
	t.f = nf
	t.mu.Unlock()
	return old.Close()
}

// Close stops copying once everything already written to the pipe is in
// the file: it closes the write end (the caller must have pointed fds 1
// and 2 elsewhere, and children holding the pipe must be gone, or the
// copier keeps running until they exit), waits for the copier, and closes
// the file.
func (t *Transcript) Close() error {
	t.w.Close()
	select {
	case <-t.done:
	case <-time.After(time.Second):
		// An orphan still holds the pipe: stop copying anyway.
	}
	t.r.Close()
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.f.Close()
}
