package repozo

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
)

// Mode is what a run does: exactly one of -B, -R and -V.
type Mode int

// The three modes of ZODB 6.3 repozo.py (BACKUP, RECOVER, VERIFY).
const (
	Backup Mode = iota + 1
	Recover
	Verify
)

// Options are repozo.py's Options class, filled from the command line.
type Options struct {
	Mode       Mode
	File       string // -f: the Data.fs to back up
	Repository string // -r: the backup directory (must exist)
	Full       bool   // -F
	Date       string // -D: recover the state as of this UTC date (yyyy-mm-dd[-hh[-mm[-ss]]])
	Output     string // -o: recover into this file; "" is stdout
	HasOutput  bool
	Quick      bool // -Q
	Gzip       bool // -z
	KillOld    bool // -k
	WithVerify bool // -w
	Verbose    bool // -v

	// Now is the clock naming new backup files (nil: time.Now), the
	// hook repozo.py's tests get through options.test_now.
	Now func() time.Time
	// Stdout receives a recovery without -o; Log receives -v messages.
	Stdout io.Writer
	Log    io.Writer
	// Terminal is where a progress bar is drawn during long copies, when
	// it is a terminal (nil: never).
	Terminal *os.File

	when string // the date findFiles looked up to
}

// usageText is repozo.py's module docstring, which its usage() prints
// with %(program)s replaced by sys.argv[0].
const usageText = `repozo.py -- incremental and full backups of a Data.fs file and index.

Usage: %s [options]
Where:

    Exactly one of -B, -R, or -V must be specified:

    -B / --backup
        Backup current ZODB file.

    -R / --recover
        Restore a ZODB file from a backup.

    -V / --verify
        Verify backup integrity.

    -v / --verbose
        Verbose mode.

    -h / --help
        Print this text and exit.

    -r dir
    --repository=dir
        Repository directory containing the backup files.  This argument
        is required.  The directory must already exist.  You should not
        edit the files in this directory, or add your own files to it.

Options for -B/--backup:
    -f file
    --file=file
        Source Data.fs file.  This argument is required.

    -F / --full
        Force a full backup.  By default, an incremental backup is made
        if possible (e.g., if a pack has occurred since the last
        incremental backup, a full backup is necessary).

    -Q / --quick
        Verify via md5 checksum only the last incremental written.  This
        significantly reduces the disk i/o at the (theoretical) cost of
        inconsistency.  This is a probabilistic way of determining whether
        a full backup is necessary.

    -z / --gzip
        Compress with gzip the backup files.  Uses the default zlib
        compression level.  By default, gzip compression is not used.

    -k / --kill-old-on-full
        If a full backup is created, remove any prior full or incremental
        backup files (and associated metadata files) from the repository
        directory.

Options for -R/--recover:
    -D str
    --date=str
        Recover state as of this date.  Specify UTC (not local) time.
            yyyy-mm-dd[-hh[-mm[-ss]]]
        By default, current time is used.

    -o filename
    --output=filename
        Write recovered ZODB to given file.  By default, the file is
        written to stdout.

        Note:  for the stdout case, the index file will **not** be restored
        automatically.

    -w
    --with-verify
        Verify on the fly the backup files on recovering. This option runs
        the same checks as when repozo is run in -V/--verify mode, and
        allows to verify and recover a backup in one single step. If a sanity
        check fails, the partially recovered ZODB will be left in place.

Options for -V/--verify:
    -Q / --quick
        Verify file sizes only (skip md5 checksums).

`

// UsageError is a command-line problem: repozo.py's usage(1, msg)
// prints the usage text and then Msg on stderr and exits with status 1.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// errHelp is -h: the usage text on stdout, exit status 0.
var errHelp = &UsageError{}

// parseArgs is repozo.py's parseargs. Messages about options a mode
// ignores go to log only with -v, as there.
func parseArgs(args []string, log io.Writer) (*Options, error) {
	pairs, rest, err := getopt.Scan(args, "BRVvhr:f:FQzkD:o:w", []string{
		"backup", "recover", "verify", "verbose", "help", "repository=", "file=",
		"full", "quick", "gzip", "kill-old-on-full", "date=", "output=", "with-verify"})
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	o := &Options{}
	setMode := func(m Mode) error {
		if o.Mode != 0 {
			return &UsageError{Msg: "-B, -R, and -V are mutually exclusive"}
		}
		o.Mode = m
		return nil
	}
	hasDate := false
	for _, p := range pairs {
		var err error
		switch p.Opt {
		case "-h", "--help":
			return nil, errHelp
		case "-v", "--verbose":
			o.Verbose = true
		case "-R", "--recover":
			err = setMode(Recover)
		case "-B", "--backup":
			err = setMode(Backup)
		case "-V", "--verify":
			err = setMode(Verify)
		case "-Q", "--quick":
			o.Quick = true
		case "-f", "--file":
			o.File = p.Value
		case "-r", "--repository":
			o.Repository = p.Value
		case "-F", "--full":
			o.Full = true
		case "-D", "--date":
			o.Date, hasDate = p.Value, true
		case "-o", "--output":
			o.Output, o.HasOutput = p.Value, true
		case "-z", "--gzip":
			o.Gzip = true
		case "-k", "--kill-old-on-full":
			o.KillOld = true
		case "-w", "--with-verify":
			o.WithVerify = true
		}
		if err != nil {
			return nil, err
		}
	}
	if len(rest) > 0 {
		return nil, &UsageError{Msg: "Invalid arguments: " + strings.Join(rest, ", ")}
	}
	if o.Mode == 0 {
		return nil, &UsageError{Msg: "Either --backup, --recover or --verify is required"}
	}
	given := func(short, long string) bool {
		for _, p := range pairs {
			if p.Opt == short || p.Opt == long {
				return true
			}
		}
		return false
	}
	// repozo.py tests "is None": an empty -r '' passes this check.
	if !given("-r", "--repository") {
		return nil, &UsageError{Msg: "--repository is required"}
	}
	// The options a mode does not use are dropped, with a -v message
	// each, in repozo.py's order.
	type unused struct {
		given bool
		name  string
		reset func()
	}
	var drop []unused
	mode := ""
	date := unused{hasDate, "date", func() { o.Date = "" }}
	output := unused{o.HasOutput, "output", func() { o.Output, o.HasOutput = "", false }}
	withVerify := unused{o.WithVerify, "with-verify", func() { o.WithVerify = false }}
	file := unused{given("-f", "--file"), "file", func() { o.File = "" }}
	killOld := unused{o.KillOld, "kill-old-on-full", func() { o.KillOld = false }}
	switch o.Mode {
	case Backup:
		mode, drop = "backup", []unused{date, output, withVerify}
	case Recover:
		mode, drop = "recover", []unused{file, killOld}
	case Verify:
		mode, drop = "verify", []unused{date, output,
			{o.Full, "full", func() { o.Full = false }}, {o.Gzip, "gzip", func() { o.Gzip = false }},
			file, killOld, withVerify}
	}
	for _, u := range drop {
		if u.given {
			if o.Verbose {
				fmt.Fprintf(log, "--%s option is ignored in %s mode\n", u.name, mode)
			}
			u.reset()
		}
	}
	if o.Mode == Backup && o.File == "" {
		return nil, &UsageError{Msg: "--file is required in backup mode"}
	}
	return o, nil
}

// Main runs repozo with the command-line words after argv0 and returns
// the exit status: 0, or 1 after a usage error (usage text and message
// on stderr) or a failure (the message alone on stderr, as repozo.py's
// sys.exit(str(e))).
func Main(argv0 string, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if err == errHelp {
		fmt.Fprintf(stdout, usageText, argv0)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, usageText+"%s\n", argv0, err.Error())
		return 1
	}
	o.Stdout, o.Log = stdout, stderr
	if f, ok := stderr.(*os.File); ok {
		o.Terminal = f
	}
	if err := Run(o); err != nil {
		fmt.Fprintln(stderr, Message(err))
		return 1
	}
	return 0
}
