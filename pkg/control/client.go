package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// DefaultCallTimeout bounds a Call whose context has no deadline. zdrun
// answers from memory, so a healthy manager replies in well under a
// millisecond; a manager that does not answer within this time is treated as
// not running.
const DefaultCallTimeout = 10 * time.Second

// MaxReply bounds the size of a reply a client accepts; a status reply is a
// few hundred bytes.
const MaxReply = 1 << 20

// ErrReplyTooLarge is returned when a reply exceeds MaxReply bytes.
var ErrReplyTooLarge = errors.New("control reply too large")

// Call sends one command to the manager listening on sockPath and returns
// its reply (docs/design/control-socket.md): connect, write "command\n", shut the write side, read
// until EOF. Any error means, to zdctl, "daemon manager not running". The
// context's deadline (or DefaultCallTimeout) bounds the whole exchange.
func Call(ctx context.Context, sockPath, command string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultCallTimeout)
		defer cancel()
	}
	c, err := dial(ctx, sockPath)
	if err != nil {
		return "", fmt.Errorf("control: call %q: %w", command, err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	// Wake the blocked read if the context is cancelled before its deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if !strings.HasSuffix(command, "\n") {
		command += "\n"
	}
	if _, err := io.WriteString(conn, command); err != nil {
		return "", fmt.Errorf("control: send %q to %s: %w", strings.TrimSpace(command), sockPath, err)
	}
	if err := conn.CloseWrite(); err != nil {
		return "", fmt.Errorf("control: send %q to %s: %w", strings.TrimSpace(command), sockPath, err)
	}
	buf, err := io.ReadAll(io.LimitReader(conn, MaxReply+1))
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return "", fmt.Errorf("control: reply to %q from %s: %w", strings.TrimSpace(command), sockPath, err)
	}
	if len(buf) > MaxReply {
		return "", fmt.Errorf("control: reply to %q from %s: %w", strings.TrimSpace(command), sockPath, ErrReplyTooLarge)
	}
	return string(buf), nil
}

// GetStatus calls "status" and parses the reply. ok is false when no manager
// answered or the reply is not a manager's status (zdctl: "daemon manager
// not running").
func GetStatus(ctx context.Context, sockPath string) (st Status, ok bool) {
	reply, err := Call(ctx, sockPath, "status")
	if err != nil || reply == "" {
		return Status{}, false
	}
	return ParseStatus(reply)
}

// dial connects, retrying while the manager's accept queue is full: a
// non-blocking connect(2) on a Unix stream socket fails with EAGAIN then,
// instead of waiting as TCP does, and a busy manager is not a dead one.
func dial(ctx context.Context, sockPath string) (net.Conn, error) {
	var d net.Dialer
	wait := time.Millisecond
	for {
		c, err := d.DialContext(ctx, "unix", sockPath)
		if err == nil || !errors.Is(err, syscall.EAGAIN) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}
