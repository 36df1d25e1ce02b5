// Command zeobench is a ZEO load generator (loadBefore and small commits
// over N connections): a thin main around pkg/zeobench.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zeobench"
)

func main() {
	os.Exit(zeobench.Main(os.Args, os.Stdout, os.Stderr))
}
