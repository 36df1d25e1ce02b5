// Command fsrecover is ZODB's fsrecover for FileStorage data files; see pkg/fsrecover and
// docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fsrecover"
)

func main() { os.Exit(fsrecover.Main(os.Args[1:], os.Stdout, os.Stderr)) }
