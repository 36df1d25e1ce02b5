// Command runzeo is the ZEO storage server (zeo-protocol.md §6.4): a thin
// main around pkg/zeo/runzeo.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zeo/runzeo"
)

func main() {
	os.Exit(runzeo.Main(os.Args, os.Stdout, os.Stderr))
}
