// Command fsdump is ZODB's fsdump for FileStorage data files; see pkg/fsdump and
// docs/filestorage.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fsdump"
)

func main() { os.Exit(fsdump.Main(os.Args[1:], os.Stdout, os.Stderr)) }
