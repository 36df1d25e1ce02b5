// Command repozo makes full and incremental backups of a FileStorage
// Data.fs and recovers it from them, like ZODB's repozo.py (see
// pkg/repozo).
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/repozo"
)

func main() { os.Exit(repozo.Main(os.Args[0], os.Args[1:], os.Stdout, os.Stderr)) }
