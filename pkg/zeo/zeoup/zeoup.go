// Package zeoup is the zeoup monitoring tool: connect to a ZEO server
// (waiting for it to answer), load the root object and (unless
// --nowrite) commit a transaction that updates root['zeoup'], then print
// OK. The exit status says whether the server
// works: 0 it does, 1 it does not, 2 usage error. Options follow ZEO's
// zeoup.py (-p PORT, -h HOST, -U PATH, -S STORAGE, --nowrite) plus -a
// ADDRESS and -t SECONDS.
package zeoup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/tid"
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
-t SECONDS -- wait this long for the server and the check (default 30)
-v/--verbose -- say what was written
--nowrite -- only load the root object; do not commit a transaction
-1 -- accepted for zeoup.py compatibility (ZEO 1.0 servers); ignored

zeoup waits for the server to accept connections (up to -t), loads the
root object and, unless --nowrite, commits a transaction that sets
root['zeoup'] to a counter (an empty transaction when the root's pickle
cannot be rewritten exactly; a note says why). On an empty storage it
creates the root object first, as ZODB.DB does. A ConflictError counts as
success, as in ZEO's zeoup.py.
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
		// zeoup.py's -1 selected the ZEO 1.0 protocol; accepted and
		// ignored so that old monitoring command lines keep working.
		{Name: "zeo1", Short: '1'},
		{Name: "verbose", Short: 'v', Long: "verbose"},
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
	r, err := Check(addr, opts, !res.Given("nowrite"), timeout)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	if r.Note != "" {
		fmt.Fprintf(stderr, "zeoup: committed an empty transaction instead of updating root['zeoup'] (%s)\n", r.Note)
	}
	if res.Given("verbose") {
		if r.CreatedRoot {
			fmt.Fprintln(stdout, "created the root object")
		}
		switch {
		case r.Conflict:
			fmt.Fprintln(stdout, "ConflictError (another client changed the root): the commit protocol works")
		case r.Counter > 0:
			fmt.Fprintf(stdout, "root['zeoup'] = %d\n", r.Counter)
		}
	}
	fmt.Fprintf(stdout, "OK (%.3f seconds)\n", time.Since(start).Seconds())
	return 0
}

// Result says what a check did.
type Result struct {
	// Counter is root['zeoup'] after the commit (0 when the root was not
	// rewritten).
	Counter int64
	// CreatedRoot is set when the storage was empty and zeoup created the
	// root object first, as ZODB.DB does.
	CreatedRoot bool
	// Conflict is set when another client changed the root meanwhile;
	// like ZEO's zeoup.py, that counts as success (the commit protocol
	// ran).
	Conflict bool
	// Note says why the root was not rewritten and an empty transaction
	// was committed instead.
	Note string
}

// Check connects (waiting up to timeout for the server to answer), loads
// the root (an empty storage, where the root does not exist yet, counts
// as working with write false) and, with write, commits a transaction.
//
// The transaction does what ZEO's zeoup.py does in spirit (it sets
// root['monitor']['zeoup'], a ZODB.tests.MinPO counter, which needs
// Python classes): it sets root['zeoup'] to its int value plus one. The
// root pickle is only rewritten when its bytes re-encode exactly (see
// rootedit.go); otherwise an empty transaction is committed and
// Result.Note says why. On an empty storage the root is created first,
// as ZODB.DB does ("initial database creation").
func Check(addr string, opts client.Options, write bool, timeout time.Duration) (Result, error) {
	var res Result
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := client.DialWait(ctx, []string{addr}, opts)
	if err != nil {
		return res, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	data, serial, err := c.Load(storage.OID(0))
	missing := err != nil && client.IsClass(err, "POSKeyError")
	if err != nil && !missing {
		return res, fmt.Errorf("loading the root object: %w", err)
	}
	if !write {
		return res, c.Ping()
	}
	if missing {
		conflict, err := commit(c, "", "initial database creation", emptyRoot, 0)
		if err != nil {
			return res, fmt.Errorf("creating the root object: %w", err)
		}
		res.CreatedRoot = !conflict
		if data, serial, err = c.Load(storage.OID(0)); err != nil {
			return res, fmt.Errorf("loading the root object: %w", err)
		}
	}
	newRoot, n, err := bumpZeoup(data)
	if err != nil {
		res.Note = err.Error()
		newRoot = nil
	}
	conflict, err := commit(c, "zeoup", "zeoup check", newRoot, serial)
	if err != nil {
		return res, err
	}
	if conflict {
		res.Conflict = true
		return res, nil
	}
	if newRoot != nil {
		// Load it back: the server must return what was stored.
		got, _, err := c.Load(storage.OID(0))
		if err != nil {
			return res, fmt.Errorf("loading the root object after the commit: %w", err)
		}
		if !bytes.Equal(got, newRoot) {
			return res, fmt.Errorf("the root object loaded after the commit differs from the one stored")
		}
		res.Counter = n
	}
	return res, nil
}

// commit runs one transaction storing root (nothing when root is nil)
// over serial. conflict reports a ConflictError (conflict dicts from vote
// or a ConflictError reply), after which the transaction is aborted.
func commit(c *client.Client, user, desc string, root []byte, serial tid.TID) (conflict bool, err error) {
	tx, err := c.Begin(user, desc, wire.NewDict())
	if err != nil {
		return false, err
	}
	if root != nil {
		if err := tx.Store(storage.OID(0), serial, root); err != nil {
			tx.Abort()
			return false, err
		}
	}
	conflicts, _, err := tx.Vote()
	if err != nil || len(conflicts) > 0 {
		tx.Abort()
		if err == nil || client.IsClass(err, "ConflictError") {
			return true, nil
		}
		return false, fmt.Errorf("vote: %w", err)
	}
	if _, err := tx.Finish(); err != nil {
		return false, fmt.Errorf("tpc_finish: %w", err)
	}
	return false, nil
}
