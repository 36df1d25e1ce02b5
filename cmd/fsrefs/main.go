// Command fsrefs is ZODB's fsrefs for FileStorage data files; see pkg/fsrefs and
// docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fsrefs"
)

func main() { os.Exit(fsrefs.Main(os.Args[1:], os.Stdout, os.Stderr)) }
