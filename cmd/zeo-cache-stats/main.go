// Command zeo-cache-stats summarises a ZEO client cache trace, like ZEO's
// ZEO.scripts.cache_stats.  See docs/cache-tools.md.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/zdkit/zdkit/pkg/cachestats"
)

func main() {
	// Ctrl-C stops reading and reports what was read, as in Python.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cachestats.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
