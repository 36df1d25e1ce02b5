package fsoids

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// usage is fsoids.py's module docstring, which its usage() prints.
const usage = `FileStorage oid-tracer.

usage: fsoids.py [-f oid_file] Data.fs [oid]...

Display information about all occurrences of specified oids in a FileStorage.
This is meant for heavy debugging.

This includes all revisions of the oids, all objects referenced by the
oids, and all revisions of all objects referring to the oids.

If specified, oid_file is an input text file, containing one oid per
line.  oids are specified as integers, in any of Python's integer
notations (typically like 0x341a).  One or more oids can also be specified
on the command line.

The output is grouped by oid, from smallest to largest, and sub-grouped
by transaction, from oldest to newest.

This will not alter the FileStorage, but running against a live FileStorage
is not recommended (spurious error messages may result).

See testfsoids.py for a tutorial doctest.
`

// Main is the fsoids command: fsoids [-f oid_file] Data.fs [oid]...
// Oids are Python integer literals (26, 0x1a). It returns the exit
// status: 1 with a message where fsoids.py fails with a traceback; a
// command line without a data file prints the usage text twice on
// stdout first, as fsoids.py does.
func Main(args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintln(stderr, "fsoids:", err)
		return 1
	}
	opts, files, err := getopt.Scan(args, "f:", nil)
	if err == nil && len(files) == 0 {
		fmt.Fprint(stdout, usage+"\n")
		//lint:ignore ST1005 ZODB 6.3 fsoids.py's message, printed as it is
		err = fmt.Errorf("Must specify a FileStorage")
	}
	if err != nil {
		fmt.Fprint(stdout, usage+"\n")
		return fail(err)
	}
	oidFile := ""
	for _, o := range opts {
		oidFile = o.Value
	}
	if st, err := os.Stat(files[0]); err != nil || !st.Mode().IsRegular() {
		return fail(fmt.Errorf("must specify an existing FileStorage"))
	}
	tr := New(files[0])
	register := func(s string) error {
		v, err := pyrepr.ParseInt(s, 0)
		if err != nil {
			return err
		}
		if v < 0 {
			return fmt.Errorf("oid %d is negative", v)
		}
		tr.Register(filestorage.Oid(v))
		return nil
	}
	for _, s := range files[1:] {
		if err := register(s); err != nil {
			return fail(err)
		}
	}
	if oidFile != "" {
		f, err := os.Open(oidFile)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			if err := register(sc.Text()); err != nil {
				return fail(fmt.Errorf("%s line %d: %w", oidFile, n, err))
			}
		}
		if err := sc.Err(); err != nil {
			return fail(fmt.Errorf("%s: %w", oidFile, err))
		}
	}
	if tr.Len() == 0 {
		return fail(fmt.Errorf("no oids specified"))
	}
	// On a damaged file, report what was read before the damage (as
	// fsoids.py does after FileIterator's warning), then name it.
	runErr := tr.Run()
	if err := tr.Report(stdout); err != nil {
		return fail(err)
	}
	if runErr != nil {
		return fail(runErr)
	}
	return 0
}
