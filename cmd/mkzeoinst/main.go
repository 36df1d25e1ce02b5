// Command mkzeoinst creates a ZEO instance home: configuration files for
// runzeo and zdctl, bin/zeoctl and bin/runzeo, and optionally a systemd
// unit.  See docs/mkzeoinst.md and package instance.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/instance"
)

func main() {
	os.Exit(instance.Main(os.Args, os.Stdout, os.Stderr))
}
