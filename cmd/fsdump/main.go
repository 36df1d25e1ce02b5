// Command fsdump is ZODB's fsdump for FileStorage data files; see
// pkg/fstools.Fsdump and docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstools"
)

func main() { os.Exit(fstools.Fsdump(os.Args[1:], os.Stdout, os.Stderr)) }
