// Command runzeo is the ZEO storage server (ZEO 6.0's runzeo; docs/runzeo.md): a thin
// main around pkg/zeo/runzeo.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zeo/runzeo"
)

func main() {
	os.Exit(runzeo.Main(os.Args, os.Stdout, os.Stderr))
}
