package cachesimul

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace/tracecli"
)

// Prog is the command name used in messages.
const Prog = "zeo-cache-simul"

var (
	optSize      = &tracecli.Opt{Long: "--size", Short: "-s", Value: true, Metavar: "CACHELIMIT"}
	optInterval  = &tracecli.Opt{Long: "--interval", Short: "-i", Value: true, Metavar: "INTERVAL"}
	optRearrange = &tracecli.Opt{Long: "--rearrange", Short: "-r", Value: true, Metavar: "REARRANGE"}
)

var parser = &tracecli.Parser{
	Opts:      []*tracecli.Opt{optSize, optInterval, optRearrange},
	HelpShort: "-h",
	HelpLong:  "--help",
}

const usage = `usage: zeo-cache-simul [-h] [--size CACHELIMIT] [--interval INTERVAL]
                       [--rearrange REARRANGE]
                       tracefile
`

const help = usage + `
Cache simulation (ZEO's circular client cache) over a ZEO cache trace.
Note: the simulation isn't perfect, and it will be far off if the trace was
created starting with a non-empty cache.

positional arguments:
  tracefile             The trace to read; may be gzipped; - for stdin

options:
  -h, --help            show this help message and exit
  --size CACHELIMIT, -s CACHELIMIT
                        cache size in MB (default 20MB)
  --interval INTERVAL, -i INTERVAL
                        summarizing interval in minutes (default 15; max 60)
  --rearrange REARRANGE, -r REARRANGE
                        rearrange factor
`

// Main runs zeo-cache-simul with the given arguments (without the program
// name) and returns the exit status: 0 on success (also --help), 1 when
// the input fails, 2 for command-line errors.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "%s%s: error: %s\n", usage, Prog, err)
		return 2
	}
	res, err := parser.Parse(args)
	if err == tracecli.ErrHelp {
		io.WriteString(stdout, help)
		return 0
	}
	if err != nil {
		return fail(err)
	}
	opt := Options{Size: 20 << 20, Interval: 900, Rearrange: 0.8}
	if v, ok := res.Values["--size"]; ok {
		f, ok := tracecli.ParseFloat(v)
		if !ok || f*(1<<20) >= 1<<62 {
			return fail(tracecli.InvalidValue(optSize, "size", v))
		}
		opt.Size = int64(f * (1 << 20))
		if opt.Size <= headerSize {
			return fail(fmt.Errorf("argument --size/-s: %s MB is %d bytes: %w", strings.TrimSpace(v), opt.Size, ErrSize))
		}
	}
	if v, ok := res.Values["--interval"]; ok {
		iv, ok := tracecli.Interval(v)
		if !ok {
			return fail(tracecli.InvalidValue(optInterval, "interval", v))
		}
		opt.Interval = iv
	}
	if v, ok := res.Values["--rearrange"]; ok {
		f, ok := tracecli.ParseFloat(v)
		if !ok {
			return fail(tracecli.InvalidValue(optRearrange, "float", v))
		}
		opt.Rearrange = f
	}
	switch len(res.Positional) {
	case 0:
		return fail(errors.New("the following arguments are required: tracefile"))
	case 1:
	default:
		return fail(fmt.Errorf("unrecognized arguments: %s", strings.Join(res.Positional[1:], " ")))
	}
	name := res.Positional[0]
	f, err := cachetrace.Open(name, stdin)
	if err != nil {
		return fail(fmt.Errorf("argument tracefile: can't open '%s': %w", name, err))
	}
	defer f.Close()
	if err := Simulate(f, stdout, opt); err != nil {
		fmt.Fprintf(stderr, "%s: %s: %v\n", Prog, name, err)
		return 1
	}
	return 0
}
