package cachestats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace/tracecli"
)

// Prog is the command name used in messages.
const Prog = "zeo-cache-stats"

var (
	optVerbose  = &tracecli.Opt{Long: "--verbose", Short: "-v", Help: "Be verbose; print each record"}
	optQuiet    = &tracecli.Opt{Long: "--quiet", Short: "-q", Help: "Reduce output; don't print summaries"}
	optSizes    = &tracecli.Opt{Long: "--sizes", Short: "-s", Help: "print histogram of object sizes"}
	optNoStats  = &tracecli.Opt{Long: "--no-stats", Short: "-S", Help: "don't print statistics"}
	optHist     = &tracecli.Opt{Long: "--load-histogram", Short: "-h", Help: "print histogram of object load frequencies"}
	optCheck    = &tracecli.Opt{Long: "--check", Short: "-X", Help: "accepted and ignored (never implemented in ZEO either)"}
	optInterval = &tracecli.Opt{Long: "--interval", Short: "-i", Value: true, Metavar: "INTERVAL", Help: "summarizing interval in minutes (default 15; max 60)"}
)

// -h is the load histogram, as in ZEO's cache_stats (argparse add_help=False),
// so help is only the literal --help, and like Python it exits with 2.
var parser = &tracecli.Parser{
	Opts:      []*tracecli.Opt{optVerbose, optQuiet, optSizes, optNoStats, optHist, optCheck, optInterval},
	Exclusive: [][]string{{"--verbose", "--quiet"}},
}

const usage = `usage: zeo-cache-stats [--verbose | --quiet] [--sizes] [--no-stats]
                       [--load-histogram] [--check] [--interval INTERVAL]
                       tracefile
`

const help = usage + `
Trace file statistics analyzer (ZEO cache trace, ZEO_CACHE_TRACE)

positional arguments:
  tracefile             The trace to read; may be gzipped; - for stdin

options:
  --verbose, -v         Be verbose; print each record
  --quiet, -q           Reduce output; don't print summaries
  --sizes, -s           print histogram of object sizes
  --no-stats, -S        don't print statistics
  --load-histogram, -h  print histogram of object load frequencies
  --check, -X           accepted and ignored (never implemented in ZEO)
  --interval INTERVAL, -i INTERVAL
                        summarizing interval in minutes (default 15; max 60)
  --help                show this help message and exit (status 2)
`

// Main runs zeo-cache-stats with the given arguments (without the program
// name) and returns the exit status: 0 on success, 1 when no record was
// read or the input failed, 2 for command-line errors and --help.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if slices.Contains(args, "--help") {
		io.WriteString(stdout, help)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s%s: error: %s\n", usage, Prog, err)
		return 2
	}
	res, err := parser.Parse(args)
	if err != nil {
		return fail(err)
	}
	var opt Options
	opt.Verbose = res.Has("--verbose")
	opt.Quiet = res.Has("--quiet")
	opt.Sizes = res.Has("--sizes")
	opt.NoStats = res.Has("--no-stats")
	opt.Histogram = res.Has("--load-histogram")
	opt.Interval = 900
	if res.Has("--interval") {
		v := res.Values["--interval"]
		iv, ok := tracecli.Interval(v)
		if !ok {
			return fail(tracecli.InvalidValue(optInterval, "interval", v))
		}
		opt.Interval = iv
	}
	switch len(res.Positional) {
	case 0:
		return fail(errors.New("the following arguments are required: tracefile"))
	case 1:
	default:
		return fail(fmt.Errorf("unrecognized arguments: %s", joinArgs(res.Positional[1:])))
	}
	name := res.Positional[0]
	f, err := cachetrace.Open(name, stdin)
	if err != nil {
		return fail(fmt.Errorf("argument tracefile: can't open '%s': %w", name, err))
	}
	defer f.Close()
	err = Report(ctx, f, stdout, opt)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNoRecords):
		fmt.Fprintln(stderr, err)
	default:
		fmt.Fprintf(stderr, "%s: %s: %v\n", Prog, name, err)
	}
	return 1
}

func joinArgs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s
}
