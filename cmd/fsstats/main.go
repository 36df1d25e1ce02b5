// Command fsstats prints statistics about a FileStorage from fsdump's
// output, like ZODB's fsstats.py (see pkg/fsstats).
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fsstats"
)

func main() { os.Exit(fsstats.Main(os.Args[1:], os.Stdout, os.Stderr)) }
