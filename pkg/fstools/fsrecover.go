package fstools

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

const fsrecoverUsage = `Usage: fsrecover [-f] [-v level] [-p] [-P seconds] input output

Recover data from a FileStorage data file, skipping over damaged data.

    -f  force output to output file even if it exists
    -v level  set the verbosity level: 0 suppresses progress
        indicators, 1 prints transaction begin/finish, 2 also records
    -p  copy partial transactions (marked packed)
    -P t  pack the output to t seconds before now`

func recoverFailed(stderr io.Writer, msg string, withUsage bool) int {
	if msg != "" {
		fmt.Fprintln(stderr, msg+"\n")
	}
	if withUsage {
		fmt.Fprintln(stderr, fsrecoverUsage)
	}
	return 1
}

// Fsrecover is fsrecover: it salvages a damaged FileStorage into a new one, like
// ZODB's fsrecover.py: fsrecover [-f] [-v level] [-p] [-P seconds] input
// output. Damage is skipped by scanning for the next plausible
// transaction; -p keeps the good records of a damaged transaction
// (marked packed), -P packs the result to that many seconds ago, -f
// overwrites an existing output. Exit status 1 on failure.
// It returns the exit status.
func Fsrecover(args []string, stdout, stderr io.Writer) int {
	var opts filestorage.RecoverOptions
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-f":
			opts.Force = true
		case a == "-p":
			opts.Partial = true
		case a == "-v" || a == "-P":
			if i+1 >= len(args) {
				return recoverFailed(stderr, "option "+a+" requires argument", true)
			}
			i++
			if a == "-v" {
				v, err := strconv.Atoi(args[i])
				if err != nil {
					return recoverFailed(stderr, "bad -v value "+strconv.Quote(args[i]), true)
				}
				opts.Verbose = v
			} else {
				v, err := strconv.ParseFloat(args[i], 64)
				if err != nil || v <= 0 {
					return recoverFailed(stderr, "bad -P value "+strconv.Quote(args[i]), true)
				}
				opts.PackAgo = v
			}
		case len(a) > 1 && a[0] == '-':
			return recoverFailed(stderr, "option "+a+" not recognized", true)
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		return recoverFailed(stderr, "two positional arguments required", true)
	}
	if st, err := os.Stat(pos[0]); err == nil && stderr == io.Writer(os.Stderr) && opts.Verbose == 0 {
		bar, done := filestorage.TerminalProgress(os.Stderr, "fsrecover", st.Size())
		opts.Progress = bar
		defer done()
	}
	if err := filestorage.Recover(pos[0], pos[1], opts, stdout); err != nil {
		return recoverFailed(stderr, err.Error(), false)
	}
	return 0
}
