package fstools

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

const fstestUsage = `Simple consistency checker for FileStorage.

usage: fstest [-v] [-p] data.fs

The fstest tool will scan all the data in a FileStorage and report an
error if it finds any corrupt transaction data.  The tool will print a
message when the first error is detected, then exit.

The tool accepts one or more -v arguments.  If a single -v is used, it
will print a line of text for each transaction record it encounters.
If two -v arguments are used, it will also print a line of text for
each object.  The objects for a transaction will be printed before the
transaction itself.

-p also checks that each data record's previous-revision pointer and
backpointer point at an earlier record of the same object.`

// Fstest is fstest: it checks the structure of a FileStorage data file, like
// ZODB's fstest.py: same checks, messages and exit status (0 when no
// error, 1 with the message on stderr otherwise). -v prints a line per
// transaction, -vv also per object. -p adds pointer checks fstest does
// not make (prev and backpointers point back at the same oid).
// It returns the exit status.
func Fstest(args []string, stdout, stderr io.Writer) int {
	opts := filestorage.CheckOptions{Out: stdout}
	var files []string
	for i, a := range args {
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			// getopt-style clustered flags: -vv, -vp
			for _, c := range a[1:] {
				switch c {
				case 'v':
					opts.Verbose++
				case 'p':
					opts.Pointers = true
				default:
					fmt.Fprintln(stderr, fstestUsage)
					return 1
				}
			}
			continue
		}
		files = append(files, a)
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, fstestUsage)
		return 1
	}
	if st, err := os.Stat(files[0]); err == nil && stderr == io.Writer(os.Stderr) {
		bar, done := filestorage.TerminalProgress(os.Stderr, "fstest", st.Size())
		opts.Progress = bar
		defer done()
	}
	err := filestorage.Check(files[0], opts)
	if err != nil {
		var ce *filestorage.CheckError
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Msg)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	return 0
}
