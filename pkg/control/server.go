package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// MaxCommand is the longest command zdrun accepts without a newline: more
// than this many bytes with no newline gets "Command exceeds 10 KB" (zdrun's dorecv).
const MaxCommand = 10000

// CommandTimeout bounds how long a client may take to send its command line.
// zdrun waited forever (until a newer connection superseded the pending
// one); since connections are served concurrently here, a silent client
// must not hold a goroutine and a descriptor for ever.
const CommandTimeout = 10 * time.Second

// Framing errors of the command reader; their texts are the replies zdrun
// sends (zdaemon 5.2.1 Daemonizer.dorecv).
var (
	ErrNotTerminated = errors.New("Command not terminated by newline")
	ErrTooLong       = errors.New("Command exceeds 10 KB")
)

// TooLongError is the framing error for a line longer than a configured
// limit other than MaxCommand; it matches ErrTooLong with errors.Is.
type TooLongError struct{ Limit int }

func (e *TooLongError) Error() string { return fmt.Sprintf("Command exceeds %d bytes", e.Limit) }

func (e *TooLongError) Unwrap() error { return ErrTooLong }

// ErrIdle is the framing error for a client that sent no complete line
// within the idle timeout.
var ErrIdle = errors.New("Command not received in time")

// ReadCommand reads one request from r and returns its first line without
// the newline. It stops reading at the first newline, so a client that sends
// more after it is not waited for. EOF (or any read error) before a newline
// gives ErrNotTerminated, more than MaxCommand bytes without one ErrTooLong.
func ReadCommand(r io.Reader) (string, error) { return ReadCommandLimit(r, MaxCommand) }

// ReadCommandLimit is ReadCommand with another line limit (limit < 1 means
// MaxCommand). Over the limit the error is ErrTooLong itself for the
// default (its text is zdrun's reply) and a *TooLongError otherwise. A read
// that times out (a net.Conn deadline) gives ErrIdle.
func ReadCommandLimit(r io.Reader, limit int) (string, error) {
	if limit < 1 {
		limit = MaxCommand
	}
	buf := make([]byte, 0, min(1024, limit+1))
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		// Never read past limit+1 bytes: enough to tell "too long".
		n, err := r.Read(buf[len(buf):min(cap(buf), limit+1)])
		if i := bytes.IndexByte(buf[len(buf):len(buf)+n], '\n'); i >= 0 {
			return string(buf[:len(buf)+i]), nil
		}
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			if limit == MaxCommand {
				return "", ErrTooLong
			}
			return "", &TooLongError{Limit: limit}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return "", ErrIdle
			}
			return "", ErrNotTerminated
		}
	}
}

// Command is one control command the server knows.
type Command struct {
	// Help is the one-line description shown by the "help" command.
	Help string
	// Run executes the command with the words after the command name and
	// returns the reply. An empty reply closes the connection with no data
	// (zdrun's reopen_transcript, kept: zdaemon fault 18).
	Run func(args []string) string
}

// Dispatch answers one command line the way zdrun does: "Empty command" for
// a blank line, "Unknown command 'X'; 'help' for a list" for an unknown word,
// and a real list for "help" (zdrun 3.0+ answered "Unknown command 'help'",
// zdaemon fault 18). The reply is returned without a forced trailing newline.
func Dispatch(cmds map[string]Command, line string) string {
	words := strings.Fields(line)
	if len(words) == 0 {
		return "Empty command"
	}
	name := words[0]
	if name == "help" {
		if _, ok := cmds["help"]; !ok {
			return HelpText(cmds)
		}
	}
	c, ok := cmds[name]
	if !ok || c.Run == nil {
		return "Unknown command " + pyrepr.Str(name) + "; 'help' for a list"
	}
	return c.Run(words[1:])
}

// HelpText lists the commands, one "name -- help" line each, sorted.
func HelpText(cmds map[string]Command) string {
	names := make([]string, 0, len(cmds)+1)
	width := len("help")
	for n := range cmds {
		names = append(names, n)
		width = max(width, len(n))
	}
	if _, ok := cmds["help"]; !ok {
		names = append(names, "help")
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("Available commands (one per connection):\n")
	for _, n := range names {
		h := "list the available commands"
		if c, ok := cmds[n]; ok {
			h = c.Help
		}
		fmt.Fprintf(&b, "%-*s -- %s\n", width, n, h)
	}
	return b.String()
}

// ErrPathTooLong is returned (wrapped) when a socket path does not fit in
// sockaddr_un. zdaemon surfaced this only as "AF_UNIX path too long"
// (zdaemon fault 15).
var ErrPathTooLong = errors.New("socket path too long for AF_UNIX")

// MaxPathLen is the longest socket path the kernel accepts (sun_path less
// its terminating NUL): 107 bytes on Linux, 103 on the BSDs.
var MaxPathLen = len(syscall.RawSockaddrUnix{}.Path) - 1

// PathTooLongError names the path, its length and the limit.
type PathTooLongError struct {
	Path string
}

func (e *PathTooLongError) Error() string {
	return fmt.Sprintf("socket path %q is %d bytes long; AF_UNIX allows at most %d (use a shorter socket-name)", e.Path, len(e.Path), MaxPathLen)
}

func (e *PathTooLongError) Unwrap() error { return ErrPathTooLong }

// ErrAlreadyRunning is returned (wrapped in *AlreadyRunningError) when
// another manager answers on the socket.
var ErrAlreadyRunning = errors.New("another daemon manager is using the socket")

// AlreadyRunningError carries the other manager's status reply. Its text is
// zdrun's (Daemonizer.opensocket), typo included, as scripts may match it.
type AlreadyRunningError struct {
	Path  string
	Reply string
}

func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("Another zrdun is already up using socket %s:\n%s", pyrepr.Str(e.Path), e.Reply)
}

func (e *AlreadyRunningError) Unwrap() error { return ErrAlreadyRunning }

// Listener is a manager's control socket, created with Listen.
type Listener struct {
	path     string
	ln       *net.UnixListener
	lock     *os.File
	lockName string
	owner    int  // uid owning the socket file: obeyed besides root
	Stale    bool // a stale socket was found and removed

	// Set these before Serve.

	// MaxLine is the longest command line accepted (0 = MaxCommand, the
	// 10 KB of zdrun). Longer lines are refused with a framing error.
	MaxLine int
	// IdleTimeout bounds how long a client may take to send its line
	// (0 = CommandTimeout). Connections that never send a newline are
	// answered with ErrIdle's text and closed, so they cannot pile up.
	IdleTimeout time.Duration
	// Refused, if set, is told about every connection refused because of
	// its peer's uid (for the manager's log).
	Refused func(uid uint32, pid int32)

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// probeTimeout bounds the status probe of an existing socket. A live zdrun
// answers at once; a dead one refuses the connection at once.
const probeTimeout = 2 * time.Second

// Listen takes ownership of the control socket at path and listens on it
// with mode 0700 (zdaemon 5.2.1 Daemonizer.opensocket).
//
// zdrun's lock (bind a temporary name, link it, on failure probe the socket
// and, if nothing answers, unlink it and sleep 1 s) races when two managers
// start together: both may find the socket stale and the second unlinks the
// first one's fresh socket (zdaemon fault 15). Here an exclusive flock on
// LockFileFor(path) (".<name>.lock" beside the socket) is held for the
// listener's whole life, so among Go managers only the lock holder ever
// touches the socket and no sleep is needed; a manager that does not take
// the lock (a Python zdrun) is still detected by probing the socket before
// it is removed, and bind(2) itself refuses to replace a socket created in
// between. Close removes the socket and then
// the lock file, still holding the lock (see takeLock), so a clean exit
// leaves the directory as zdrun left it: empty.
func Listen(path string) (*Listener, error) {
	if len(path) > MaxPathLen {
		return nil, &PathTooLongError{Path: path}
	}
	lockName := LockFileFor(path)
	lock, err := takeLock(lockName)
	if errors.Is(err, errLockHeld) {
		// Another Go manager holds the lock: it is up (or starting).
		reply, _ := probe(path)
		return nil, &AlreadyRunningError{Path: path, Reply: reply}
	}
	if err != nil {
		return nil, fmt.Errorf("control: lock for socket %s: %w", path, err)
	}
	l := &Listener{path: path, lock: lock, lockName: lockName}
	for attempt := 0; ; attempt++ {
		ln, err := listenUnix(path)
		if err == nil {
			l.ln = ln
			l.owner = os.Geteuid()
			if fi, err := os.Stat(path); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok {
					l.owner = int(st.Uid)
				}
			}
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt >= 3 {
			releaseLock(lockName, lock)
			return nil, fmt.Errorf("control: listen on %s: %w", path, err)
		}
		if reply, perr := probe(path); perr == nil {
			releaseLock(lockName, lock)
			return nil, &AlreadyRunningError{Path: path, Reply: reply}
		}
		// Nothing answers: the socket is stale (its manager died without
		// cleaning up). We hold the lock, so no Go manager can be creating
		// it right now; remove it and try again at once.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			releaseLock(lockName, lock)
			return nil, fmt.Errorf("control: remove stale socket %s: %w", path, err)
		}
		l.Stale = true
	}
}

// listenUnix binds path, restricts it to the owner before anyone can
// connect (connect(2) fails until listen(2)), then listens.
func listenUnix(path string) (*net.UnixListener, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := os.Chmod(path, 0o700); err != nil {
		syscall.Close(fd)
		os.Remove(path)
		return nil, err
	}
	if err := syscall.Listen(fd, listenBacklog); err != nil {
		syscall.Close(fd)
		os.Remove(path)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close() // FileListener dups the descriptor
	fl, err := net.FileListener(f)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	ln := fl.(*net.UnixListener)
	// A listener made from a file does not unlink on Close by default; we
	// created the name, so we remove it.
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// probe asks whatever listens on path for its status.
func probe(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	return Call(ctx, path, "status")
}

// Path returns the socket path.
func (l *Listener) Path() string { return l.path }

// Serve accepts connections until Close, answering each in its own
// goroutine so concurrent callers are all served (zdrun served one and
// superseded the pending one). handle receives the command line and returns
// the reply; handle must be safe for concurrent use.
func (l *Listener) Serve(handle func(line string) string) error {
	for {
		c, err := l.ln.AcceptUnix()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors: back off briefly instead of spinning.
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("control: accept on %s: %w", l.path, err)
		}
		// Add under the lock Close takes before it waits: an Add racing
		// with Wait (the race detector caught one at zdrun's exit) could
		// let Close return while a connection is still being served.
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return nil
		}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.serveConn(c, handle)
		}()
	}
}

// RefusalReply is what a peer that is neither root nor the socket's owner
// is told before the connection is closed.
func RefusalReply(uid uint32, owner int) string {
	return fmt.Sprintf("Permission denied: uid %d is neither root nor the owner of the control socket (uid %d)", uid, owner)
}

// peerCred returns the connecting process's credentials (SO_PEERCRED, as
// the kernel recorded them at connect time).
func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

func (l *Listener) serveConn(c *net.UnixConn, handle func(string) string) {
	defer c.Close()
	idle := l.IdleTimeout
	if idle <= 0 {
		idle = CommandTimeout
	}
	var reply string
	// Mode 0700 already keeps others out; the uid check also holds when
	// the mode was loosened or the directory is shared: only root and the
	// socket's owner are obeyed. zdrun checked nothing beyond the file mode.
	cred, credErr := peerCred(c)
	// The line is read even from a peer about to be refused: closing a
	// Unix socket with unread data resets the peer's connection
	// (ECONNRESET), and it could not read the refusal.
	_ = c.SetDeadline(time.Now().Add(idle))
	line, err := ReadCommandLimit(c, l.MaxLine)
	switch {
	case credErr != nil:
		reply = "Permission denied: cannot tell who is calling: " + credErr.Error()
	case cred.Uid != 0 && int(cred.Uid) != l.owner:
		reply = RefusalReply(cred.Uid, l.owner)
		if l.Refused != nil {
			l.Refused(cred.Uid, cred.Pid)
		}
	case errors.Is(err, ErrIdle):
		reply = fmt.Sprintf("%s (%v without a newline); closing", ErrIdle, idle)
	case err != nil:
		reply = err.Error()
	default:
		reply = handle(line)
	}
	if reply == "" {
		drain(c)
		return
	}
	if !strings.HasSuffix(reply, "\n") {
		reply += "\n"
	}
	// A fresh, short deadline for the reply: the read deadline may have
	// passed, and a client that does not read must not hold us either.
	_ = c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_, _ = io.WriteString(c, reply)
	drain(c)
}

// drain reads what the client sent after its line (or beyond the limit),
// a bounded amount for a bounded time, so closing does not reset the
// connection before the client has read the reply.
func drain(c *net.UnixConn) {
	_ = c.CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(drainTimeout))
	_, _ = io.Copy(io.Discard, io.LimitReader(c, drainLimit))
}

const (
	drainTimeout = time.Second
	drainLimit   = 1 << 20
)

// replyTimeout bounds writing a reply to a client that does not read it.
const replyTimeout = 10 * time.Second

// Close stops accepting, removes the socket, waits for connections being
// answered, removes the lock file and releases the lock.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	err := l.ln.Close()
	l.wg.Wait()
	// The socket is gone; remove the lock file too (still holding it), so
	// a clean exit leaves nothing in the directory, as zdaemon's zdrun.
	releaseLock(l.lockName, l.lock)
	return err
}

// listenBacklog is the control socket's accept queue. zdrun listened with
// a backlog of 1 and served one connection at a time; a burst of clients
// (200 concurrent "zdctl status") then got EAGAIN from connect.
// The kernel caps the value at net.core.somaxconn (4096 by default).
const listenBacklog = 4096
