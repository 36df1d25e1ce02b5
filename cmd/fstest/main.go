// Command fstest is ZODB's fstest for FileStorage data files; see pkg/fstest and
// docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstest"
)

func main() { os.Exit(fstest.Main(os.Args[1:], os.Stdout, os.Stderr)) }
