// Command fsoids traces oids through a FileStorage, like ZODB's
// fsoids.py (see pkg/fsoids).
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/fsoids"
)

func main() { os.Exit(fsoids.Main(os.Args[1:], os.Stdout, os.Stderr)) }
