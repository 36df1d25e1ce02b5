// Command fsrecover is ZODB's fsrecover for FileStorage data files; see
// pkg/fstools.Fsrecover and docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstools"
)

func main() { os.Exit(fstools.Fsrecover(os.Args[1:], os.Stdout, os.Stderr)) }
