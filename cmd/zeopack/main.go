// Command zeopack packs storages on running ZEO servers: a thin main
// around pkg/zeo/zeopack.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zeo/zeopack"
)

func main() {
	os.Exit(zeopack.Main(os.Args, os.Stdout, os.Stderr, nil))
}
