package fstools

import (
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// Fsdump is fsdump: it prints a FileStorage data file in the format of ZODB's
// fsdump.py (one line per transaction and per data record), which
// fsstats.py parses. A damaged file is read as ZODB's FileIterator reads
// it: the records up to the damage, Python's one-line warning on stderr,
// exit status 0. Exit status 1 with a message on stderr where Python's
// fsdump fails with a traceback (no such file, not a FileStorage, a
// header cut short by the end of the file).
// It returns the exit status.
func Fsdump(args []string, stdout, stderr io.Writer) int {
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
	// Damage that ZODB's FileIterator reports with a warning (a truncated
	// or inconsistent transaction) ends the dump with that warning on
	// stderr and exit status 0, as Python's fsdump; DumpTolerant says which.
	if err := filestorage.DumpTolerant(args[0], stdout, stderr, bar); err != nil {
		fmt.Fprintln(stderr, "fsdump:", err)
		return 1
	}
	return 0
}
