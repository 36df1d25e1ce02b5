package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Serve answers Prometheus scrapes on ln until ln is closed: "GET
// /metrics" (or HEAD) gets the exposition, other paths 404, other methods
// 405. It is a minimal HTTP/1.x responder (one request per connection,
// "Connection: close"), not net/http: linking net/http (with its TLS and
// HTTP/2 code) into zdrun doubled the binary (5.3 → 10.2 MB) and added
// 3 MiB of resident memory to a manager whose footprint is a documented
// figure. runzeo, which serves pprof and JSON too, uses net/http with
// pkg/metrics/metricshttp instead.
func Serve(ln net.Listener, r *Registry) error {
	sem := make(chan struct{}, maxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of descriptors and the like: do not spin.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			c.Close() // too many scrapers at once: shed the load
			continue
		}
		go func() {
			defer func() { <-sem }()
			serveConn(c, r)
		}()
	}
}

const (
	maxConns      = 16
	maxHeader     = 8 << 10
	serveDeadline = 10 * time.Second
)

// Request errors, with the status they are answered with.
var (
	ErrBadRequest       = errors.New("400 Bad Request")
	ErrHeaderTooLarge   = errors.New("431 Request Header Fields Too Large")
	ErrNotFound         = errors.New("404 Not Found")
	ErrMethodNotAllowed = errors.New("405 Method Not Allowed")
)

// ParseRequest reads an HTTP/1.x request head (request line and header
// lines up to the empty line, at most 8 KiB) and returns its method.
// Only "/metrics" (with any query) is served.
func ParseRequest(br *bufio.Reader) (method string, err error) {
	total := 0
	var cur []byte     // the line being read (it may exceed the buffer)
	var reqLine string // the request line, once read
	for {
		part, err := br.ReadSlice('\n')
		total += len(part)
		if total > maxHeader {
			return "", ErrHeaderTooLarge
		}
		if reqLine == "" {
			cur = append(cur, part...)
		} else {
			cur = append(cur[:0], part[:min(len(part), 2)]...) // only emptiness matters
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
		empty := len(bytes.TrimRight(cur, "\r\n")) == 0
		switch {
		case reqLine == "" && !empty:
			reqLine = string(bytes.TrimRight(cur, "\r\n"))
		case reqLine != "" && empty:
			return checkRequestLine(reqLine)
		}
		// else: an empty line before the request line (tolerated, RFC
		// 9112 §2.2) or a header line (ignored).
		cur = cur[:0]
	}
}

func checkRequestLine(reqLine string) (string, error) {
	f := strings.Fields(reqLine)
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/1.") {
		return "", ErrBadRequest
	}
	path, _, _ := strings.Cut(f[1], "?")
	if path != "/metrics" {
		return f[0], ErrNotFound
	}
	if f[0] != "GET" && f[0] != "HEAD" {
		return f[0], ErrMethodNotAllowed
	}
	return f[0], nil
}

func serveConn(c net.Conn, r *Registry) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(serveDeadline))
	method, err := ParseRequest(bufio.NewReaderSize(c, 1024))
	if err != nil {
		body := err.Error() + "\n"
		extra := ""
		if errors.Is(err, ErrMethodNotAllowed) {
			extra = "Allow: GET, HEAD\r\n"
		}
		fmt.Fprintf(c, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s", err, extra, len(body), body)
		return
	}
	var buf bytes.Buffer
	r.WriteTo(&buf)
	fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", ContentType, buf.Len())
	if method == "GET" {
		io.Copy(c, &buf)
	}
}
