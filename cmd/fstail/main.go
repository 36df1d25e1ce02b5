// Command fstail prints the last transactions of a FileStorage, like
// ZODB's fstail.py (see pkg/fstail).
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fstail"
)

func main() { os.Exit(fstail.Main(os.Args[1:], os.Stdout, os.Stderr)) }
