// Command fsdump prints a FileStorage data file in the format of ZODB's
// fsdump.py (one line per transaction and per data record), which
// fsstats.py parses. Exit status 1 with a message on stderr when the
// file cannot be read to the end.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (len(args[0]) > 1 && args[0][0] == '-') {
		fmt.Fprintln(stderr, "usage: fsdump data.fs")
		return 2
	}
	var bar filestorage.ProgressFunc
	if st, err := os.Stat(args[0]); err == nil && stderr == io.Writer(os.Stderr) {
		var done func()
		bar, done = filestorage.TerminalProgress(os.Stderr, "fsdump", st.Size())
		defer done()
	}
	if err := filestorage.DumpProgress(args[0], stdout, bar); err != nil {
		fmt.Fprintln(stderr, "fsdump:", err)
		return 1
	}
	return 0
}
