// Command zdctl controls a program run by zdrun: start, stop, restart,
// status, kill, logtail, ... one-shot or in an interactive shell. See
// pkg/zdctl and docs/zdctl.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/zdctl"
)

func main() {
	os.Exit(zdctl.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
