package client

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// Retryable reports errors worth waiting out: the server is not (yet)
// listening, its socket does not exist yet, or it closed the connection
// during the handshake. ZEO's ClientStorage keeps trying on these until
// its wait timeout. Errors the server answered with (an unknown storage,
// ReadOnlyError) are final.
func Retryable(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return false
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(errors.As(err, &ne) && !ne.Timeout())
}

// DialWait is Dial retried (50 ms, doubling up to 1 s apart) while the
// error is Retryable, until ctx ends; then the last error is returned.
// It is ClientStorage's wait=True for tools such as zeoup and zeopack.
func DialWait(ctx context.Context, addrs []string, opts Options) (*Client, error) {
	delay := 50 * time.Millisecond
	for {
		c, err := Dial(ctx, addrs, opts)
		if err == nil || !Retryable(err) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}
