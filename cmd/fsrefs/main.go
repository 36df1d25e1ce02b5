// Command fsrefs is ZODB's fsrefs for FileStorage data files; see
// pkg/fstools.Fsrefs and docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstools"
)

func main() { os.Exit(fstools.Fsrefs(os.Args[1:], os.Stdout, os.Stderr)) }
