// Command zeo-cache-simul simulates ZEO's client cache at other sizes over
// a cache trace, like ZEO's ZEO.scripts.cache_simul.  See
// docs/cache-tools.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/cachesimul"
)

func main() {
	os.Exit(cachesimul.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
