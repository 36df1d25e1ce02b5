// Package zeopack is the zeopack tool: pack storages on running ZEO
// servers (ZEO's zeopack.py). Servers are given as host:port[:name]
// arguments, -u path[:name] Unix sockets, or the deprecated
// -h/-p/-U/-S forms; -d DAYS and -t HH[:MM[:SS]] choose the pack time.
// It registers read-only (pack is allowed on read-only connections) and
// waits for each pack to finish. Exit status: 0 all packed, 1 a pack
// failed, 2 usage error.
package zeopack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zeo/client"
)

const usage = `Usage: %s [options] [servers]

Pack one or more storages hosted by ZEO servers.

The positional arguments specify 0 or more tcp servers to pack, where
each is of the form:

    host:port[:name]

Options:
  -d DAYS, --days=DAYS  Pack objects that are older than this number of days [0]
  -t TIME, --time=TIME  Time of day to pack to of the form: HH[:MM[:SS]].
                        Defaults to current time.
  -u PATH[:NAME], --unix=PATH[:NAME]
                        A unix-domain-socket server to connect to (repeatable).
  -h HOST               Deprecated: with -p and -S, the host to connect to.
  -p PORT               Deprecated: with -h and -S, the port to connect to.
  -S NAME               Deprecated: with -h/-p or -U, the storage name [1].
  -U UNIX               Deprecated: with -S, a Unix-domain socket.
  --timeout SECONDS     Give up on a server after this long [300]; the
                        wait for it to answer is at most 60 seconds.
  --help                Print this help (zdkit; zeopack.py has none).

With no arguments at all, this help is printed (as zeopack.py does).
`

type target struct{ addr, name string }

// Main runs zeopack and returns its exit status.
func Main(argv []string, stdout, stderr io.Writer, now func() time.Time) int {
	prog := filepath.Base(argv[0])
	if now == nil {
		now = time.Now
	}
	p := &getopt.Parser{Options: []getopt.Option{
		{Name: "days", Short: 'd', Long: "days", HasArg: true, Convert: func(s string) (any, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("not a number")
			}
			return f, nil
		}},
		{Name: "time", Short: 't', Long: "time", HasArg: true},
		{Name: "unix", Short: 'u', Long: "unix", HasArg: true, Multi: true},
		{Name: "host", Short: 'h', HasArg: true},
		{Name: "port", Short: 'p', HasArg: true},
		{Name: "name", Short: 'S', HasArg: true},
		{Name: "oldunix", Short: 'U', HasArg: true},
		{Name: "timeout", Long: "timeout", HasArg: true, Convert: func(s string) (any, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("not a positive number")
			}
			return f, nil
		}},
		{Name: "help", Long: "help", Stop: true},
	}}
	if len(argv) < 2 {
		// zeopack.py: `if not args: parser.print_help(); return`.
		fmt.Fprintf(stdout, usage, prog)
		return 0
	}
	res, err := p.Parse(argv[1:])
	if err != nil {
		return usageErr(stderr, prog, err)
	}
	if res.Stopped != "" {
		fmt.Fprintf(stdout, usage, prog)
		return 0
	}
	packTime, err := PackTime(now(), res)
	if err != nil {
		return usageErr(stderr, prog, err)
	}
	var targets []target
	for _, a := range res.Args {
		parts := strings.Split(a, ":")
		switch {
		case len(parts) == 2:
			targets = append(targets, target{a, "1"})
		case len(parts) == 3:
			targets = append(targets, target{parts[0] + ":" + parts[1], parts[2]})
		default:
			return usageErr(stderr, prog, getopt.Usagef("Invalid server specification: %s", a))
		}
	}
	for _, u := range res.Multi["unix"] {
		name := "1"
		if i := strings.LastIndexByte(u, ':'); i >= 0 && !strings.Contains(u[i:], "/") {
			u, name = u[:i], u[i+1:]
		}
		targets = append(targets, target{u, name})
	}
	name := "1"
	if n, ok := res.Values["name"].(string); ok {
		name = n
	}
	if h, ok := res.Values["host"].(string); ok {
		port, ok := res.Values["port"].(string)
		if !ok {
			return usageErr(stderr, prog, getopt.Usagef("-h requires -p"))
		}
		targets = append(targets, target{h + ":" + port, name})
	} else if port, ok := res.Values["port"].(string); ok {
		targets = append(targets, target{"localhost:" + port, name})
	}
	if u, ok := res.Values["oldunix"].(string); ok {
		targets = append(targets, target{u, name})
	}
	if len(targets) == 0 {
		return usageErr(stderr, prog, getopt.Usagef("No servers specified."))
	}
	timeout := 300 * time.Second
	if f, ok := res.Values["timeout"].(float64); ok {
		timeout = time.Duration(f * float64(time.Second))
	}
	// As zeopack.py: wait for each server (ClientStorage, up to 60 s);
	// one that never answers is reported and skipped; a failed pack ends
	// the run. Unlike zeopack.py, which exits 0 when at least one server
	// was reached, any server left unpacked makes the status 1.
	connected, missed := 0, 0
	for _, tg := range targets {
		err := Pack(tg.addr, tg.name, packTime, timeout)
		var ce *ConnectError
		switch {
		case err == nil:
			connected++
		case errors.As(err, &ce):
			missed++
			fmt.Fprintf(stderr, "Couldn't connect to: (%s, %s)\n  %v\n", pyAddr(tg.addr), pyrepr.Str(tg.name), ce.Err)
		default:
			fmt.Fprintf(stderr, "%v\nError:\nError packing storage %s in %s\n", err, tg.name, pyAddr(tg.addr))
			return 1
		}
	}
	if connected == 0 {
		fmt.Fprintf(stderr, "Error:\nCannot connect to any of the configured ZEO servers.\n")
		return 1
	}
	if missed > 0 {
		return 1
	}
	return 0
}

// pyAddr renders an address as zeopack.py's messages do: ('host', port)
// for TCP, 'path' for a Unix socket.
func pyAddr(addr string) string {
	network, a := client.Network(addr)
	if network == "unix" {
		return pyrepr.Str(a)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return pyrepr.Str(addr)
	}
	return fmt.Sprintf("(%s, %s)", pyrepr.Str(host), port)
}

// usageErr reports a usage error. The hint names --help: zeopack's -h
// is the (deprecated) host option, so "use zeopack -h" would mislead.
func usageErr(w io.Writer, prog string, err error) int {
	fmt.Fprintf(w, "Error: %v\nFor help, use %s --help\n", err, prog)
	return 2
}

// PackTime follows zeopack.py: now, or today at -t HH[:MM[:SS]] local
// time (yesterday if that is in the future), minus -d days.
func PackTime(now time.Time, res *getopt.Result) (float64, error) {
	t := now
	if s, ok := res.Values["time"].(string); ok {
		parts := strings.Split(s, ":")
		if len(parts) > 3 {
			return 0, getopt.Usagef("Invalid time value: %s", s)
		}
		hms := [3]int{}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return 0, getopt.Usagef("Invalid time value: %s", s)
			}
			hms[i] = n
		}
		t = time.Date(now.Year(), now.Month(), now.Day(), hms[0], hms[1], hms[2], 0, time.Local)
		if t.After(now) {
			t = t.Add(-24 * time.Hour)
		}
	}
	f := float64(t.UnixNano()) / 1e9
	if d, ok := res.Values["days"].(float64); ok {
		f -= d * 86400
	}
	return f, nil
}

// ConnectError is Pack's error when no connection could be registered
// within the wait (zeopack.py's "Couldn't connect to").
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "couldn't connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// ConnectWait is how long Pack waits for a server to answer: zeopack.py
// polls ClientStorage.is_connected() 60 times a second apart.
var ConnectWait = 60 * time.Second

// Pack packs one storage and waits for the pack to finish. It waits up to
// ConnectWait (at most timeout) for the server; timeout bounds the whole.
func Pack(addr, name string, t float64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, min(ConnectWait, timeout))
	defer dcancel()
	c, err := client.DialWait(dctx, []string{addr}, client.Options{Storage: name, ReadOnly: true, Label: "zeopack", Timeout: timeout})
	if err != nil {
		return &ConnectError{err}
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	_, err = c.Call("pack", t, true)
	return err
}
