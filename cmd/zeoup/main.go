// Command zeoup checks that a ZEO server works (exit status 0) or not (1):
// a thin main around pkg/zeo/zeoup.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zeo/zeoup"
)

func main() {
	os.Exit(zeoup.Main(os.Args, os.Stdout, os.Stderr))
}
