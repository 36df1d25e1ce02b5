// Command fstest is ZODB's fstest for FileStorage data files; see
// pkg/fstools.Fstest and docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstools"
)

func main() { os.Exit(fstools.Fstest(os.Args[1:], os.Stdout, os.Stderr)) }
