// Command zodbconvert copies a ZODB storage into another (RelStorage's
// zodbconvert): a thin main around pkg/zodbconvert.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zodbconvert"
)

func main() {
	os.Exit(zodbconvert.Main(os.Args, os.Stdout, os.Stderr))
}
