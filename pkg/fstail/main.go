package fstail

import (
	"fmt"
	"io"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// Main is the fstail command: fstail [-n N] data.fs (N defaults to 10).
// It returns the exit status: 1 with a message where fstail.py fails
// with a traceback (a bad command line, a file it cannot read back from
// the end).
func Main(args []string, stdout, stderr io.Writer) int {
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
	if err := Tail(files[0], int(n), stdout); err != nil {
		fmt.Fprintln(stderr, "fstail:", err)
		return 1
	}
	return 0
}
