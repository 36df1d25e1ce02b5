// Package zeoup is the zeoup monitoring tool: connect to a ZEO server,
// load the root object and (unless --nowrite) commit an empty
// transaction, then print OK. The exit status says whether the server
// works: 0 it does, 1 it does not, 2 usage error. Options follow ZEO's
// zeoup.py (-p PORT, -h HOST, -U PATH, -S STORAGE, --nowrite) plus -a
// ADDRESS and -t SECONDS.
package zeoup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

const usage = `Usage: %s [options]

Make sure a ZEO server is running.

-p PORT -- port to connect to
-h HOST -- host to connect to (default is localhost)
-U PATH -- Unix-domain socket to connect to
-a ADDRESS -- HOST:PORT or a socket PATH (instead of -p/-h/-U)
-S NAME -- storage name (default '1')
-t SECONDS -- give up after this long (default 30)
--nowrite -- only load the root object; do not commit a transaction

By default zeoup commits an empty transaction (no object is written) to
check that the commit lock and tid allocation work; ZEO's zeoup.py
rewrites root['zeoup'] instead, which needs a Python pickler.
`

// Main runs zeoup and returns its exit status.
func Main(argv []string, stdout, stderr io.Writer) int {
	prog := filepath.Base(argv[0])
	p := &getopt.Parser{Options: []getopt.Option{
		{Name: "port", Short: 'p', HasArg: true, Convert: func(s string) (any, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("not a port number")
			}
			return n, nil
		}},
		{Name: "host", Short: 'h', HasArg: true},
		{Name: "unix", Short: 'U', HasArg: true},
		{Name: "address", Short: 'a', HasArg: true},
		{Name: "storage", Short: 'S', HasArg: true},
		{Name: "timeout", Short: 't', HasArg: true, Convert: func(s string) (any, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("not a positive number")
			}
			return f, nil
		}},
		{Name: "nowrite", Long: "nowrite"},
		{Name: "help", Long: "help", Stop: true},
	}}
	res, err := p.Parse(argv[1:])
	if err != nil {
		var ue *getopt.UsageError
		if errors.As(err, &ue) {
			ue.Report(stderr, prog)
		}
		return 2
	}
	if res.Stopped != "" {
		fmt.Fprintf(stdout, usage, prog)
		return 0
	}
	addr := ""
	switch {
	case res.Given("address"):
		addr = res.Values["address"].(string)
	case res.Given("unix"):
		addr = res.Values["unix"].(string)
	case res.Given("port"):
		host := "localhost"
		if h, ok := res.Values["host"].(string); ok {
			host = h
		}
		addr = fmt.Sprintf("%s:%d", host, res.Values["port"].(int))
	default:
		getopt.Usagef("No port or socket specified; use -p, -U or -a").Report(stderr, prog)
		return 2
	}
	if len(res.Args) > 0 {
		getopt.Usagef("unexpected arguments").Report(stderr, prog)
		return 2
	}
	opts := client.Options{Storage: "1", Label: "zeoup"}
	if s, ok := res.Values["storage"].(string); ok {
		opts.Storage = s
	}
	timeout := 30 * time.Second
	if f, ok := res.Values["timeout"].(float64); ok {
		timeout = time.Duration(f * float64(time.Second))
	}
	opts.Timeout = timeout
	opts.ReadOnly = res.Given("nowrite")
	start := time.Now()
	if err := Check(addr, opts, !res.Given("nowrite"), timeout); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "OK (%.3f seconds)\n", time.Since(start).Seconds())
	return 0
}

// Check connects, loads the root (an empty storage, where the root does
// not exist yet, counts as working) and optionally commits an empty
// transaction.
func Check(addr string, opts client.Options, write bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := client.Dial(ctx, []string{addr}, opts)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, _, err := c.Load(storage.OID(0)); err != nil && !client.IsClass(err, "POSKeyError") {
		return fmt.Errorf("loading the root object: %w", err)
	}
	if !write {
		return c.Ping()
	}
	tx, err := c.Begin("zeoup", "zeoup check", wire.NewDict())
	if err != nil {
		return err
	}
	if _, _, err := tx.Vote(); err != nil {
		tx.Abort()
		return fmt.Errorf("vote: %w", err)
	}
	if _, err := tx.Finish(); err != nil {
		return fmt.Errorf("tpc_finish: %w", err)
	}
	return nil
}
