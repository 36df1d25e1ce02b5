package zdctl

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// callTimeout bounds one exchange with zdrun, as control.DefaultCallTimeout
// does for control.Call: zdrun answers from memory, so one that does not
// answer in this time counts as not running.
const callTimeout = 10 * time.Second

// maxReply bounds a reply, as maxReply (a status reply is a few
// hundred bytes).
const maxReply = 1 << 20

// errReplyTooLarge is returned for a reply over maxReply bytes.
var errReplyTooLarge = errors.New("control reply too large")

// call sends one command to zdrun and returns its reply: the exchange of
// pkg/control's Call (docs/design/control-socket.md: connect, "command\n", shut the write side, read
// to EOF), done with plain blocking system calls on the calling thread.
//
// Why not control.Call: zdctl is a one-shot process, and "zdctl status"
// is run by monitoring scripts in loops (our budget is 2 ms;
// zdaemon took 51 ms). The net package's dial goes through the runtime's
// network poller (an epoll instance, non-blocking sockets, deadline
// timers, a context watcher), which costs a one-shot process more than
// the whole round trip to zdrun does; a blocking socket with
// SO_SNDTIMEO/SO_RCVTIMEO gives the same behaviour and bounds.
func call(sockPath, command string) (string, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("control: call %q: socket: %w", command, err)
	}
	defer syscall.Close(fd)
	tv := syscall.NsecToTimeval(int64(callTimeout / time.Nanosecond))
	// On a Unix socket the send timeout also bounds a blocking connect
	// (a listener whose backlog is full).
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv); err != nil {
		return "", fmt.Errorf("control: call %q: %w", command, err)
	}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return "", fmt.Errorf("control: call %q: %w", command, err)
	}
	tries := 0
	connect := func() error {
		tries++
		err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: sockPath})
		if tries > 1 && errors.Is(err, syscall.EISCONN) {
			return nil // the interrupted attempt got through
		}
		return err
	}
	if err := retryEINTR(connect); err != nil {
		return "", fmt.Errorf("control: call %q: connect %s: %w", command, sockPath, err)
	}
	msg := []byte(command)
	if len(msg) == 0 || msg[len(msg)-1] != '\n' {
		msg = append(msg, '\n')
	}
	for len(msg) > 0 {
		var n int
		err := retryEINTR(func() (err error) { n, err = syscall.Write(fd, msg); return err })
		if err != nil {
			return "", fmt.Errorf("control: send %q to %s: %w", command, sockPath, err)
		}
		msg = msg[n:]
	}
	if err := syscall.Shutdown(fd, syscall.SHUT_WR); err != nil {
		return "", fmt.Errorf("control: send %q to %s: %w", command, sockPath, err)
	}
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var n int
		err := retryEINTR(func() (err error) { n, err = syscall.Read(fd, buf[len(buf):cap(buf)]); return err })
		if err != nil {
			return "", fmt.Errorf("control: reply to %q from %s: %w", command, sockPath, err)
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
		if len(buf) > maxReply {
			return "", fmt.Errorf("control: reply to %q from %s: %w", command, sockPath, errReplyTooLarge)
		}
	}
	return string(buf), nil
}

// retryEINTR repeats a system call interrupted by a signal (the Go
// runtime's own signals, or SIGINT that zdctl catches).
func retryEINTR(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
