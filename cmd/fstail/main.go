// Command fstail prints the last transactions of a FileStorage, like
// ZODB's fstail.py: fstail [-n N] data.fs (N defaults to 10). Exit
// status 1 with a message where fstail.py fails with a traceback (a bad
// command line, a file it cannot read back from the end).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	opts, files, err := getopt.Scan(args, "n:", nil)
	n := int64(10)
	for _, o := range opts {
		if err == nil {
			n, err = pyrepr.ParseInt(o.Value, 10)
		}
	}
	if err == nil && len(files) != 1 {
		err = fmt.Errorf("expected one data file, got %d arguments", len(files))
	}
	if err != nil {
		fmt.Fprintf(stderr, "fstail: %v\nusage: fstail [-n N] data.fs\n", err)
		return 1
	}
	if err := filestorage.Tail(files[0], int(n), stdout); err != nil {
		fmt.Fprintln(stderr, "fstail:", err)
		return 1
	}
	return 0
}
