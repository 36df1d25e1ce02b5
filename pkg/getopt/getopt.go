package getopt

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// ErrUsage is the sentinel every *UsageError matches with errors.Is.
var ErrUsage = errors.New("usage error")

// UsageError is a command-line or configuration problem that zdaemon
// reports as a usage error (exit status 2).
type UsageError struct {
	Msg string // the message after "Error: "
	Opt string // the option involved, as written ("-b", "--backoff-limit"), if any
}

func (e *UsageError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrUsage) true.
func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// Report writes the two lines zdaemon writes for a usage error
// (ZDOptions.usage) to w.
func (e *UsageError) Report(w io.Writer, argv0 string) {
	fmt.Fprintf(w, "Error: %s\nFor help, use %s -h\n", e.Msg, argv0)
}

// Usagef builds a *UsageError.
func Usagef(format string, args ...any) *UsageError {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// Pair is one option occurrence as found on the command line.
type Pair struct {
	Opt   string // "-C" or "--configure" (the full long name, even if abbreviated)
	Value string // "" for options without a value
}

// Scan is Python's getopt.getopt(args, shortopts, longopts): shortopts is
// a string like "hC:b:" (a colon marks an option taking a value), longopts
// names like "help" and "configure=" (a trailing '=' marks a value). It
// returns the options found and the remaining positional words. The error
// messages are Python's, which zdaemon prints verbatim.
func Scan(args []string, shortopts string, longopts []string) ([]Pair, []string, error) {
	var opts []Pair
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		if args[0] == "--" {
			return opts, args[1:], nil
		}
		if strings.HasPrefix(args[0], "--") {
			var err error
			opts, args, err = doLong(opts, args[0][2:], longopts, args[1:])
			if err != nil {
				return nil, nil, err
			}
		} else {
			var err error
			opts, args, err = doShorts(opts, args[0][1:], shortopts, args[1:])
			if err != nil {
				return nil, nil, err
			}
		}
	}
	return opts, args, nil
}

func doLong(opts []Pair, opt string, longopts []string, args []string) ([]Pair, []string, error) {
	var optarg string
	hasValue := false
	if i := strings.IndexByte(opt, '='); i >= 0 {
		opt, optarg, hasValue = opt[:i], opt[i+1:], true
	}
	needArg, name, err := longHasArgs(opt, longopts)
	if err != nil {
		return nil, nil, err
	}
	if needArg {
		if !hasValue {
			if len(args) == 0 {
				return nil, nil, &UsageError{Msg: fmt.Sprintf("option --%s requires argument", opt), Opt: "--" + opt}
			}
			optarg, args = args[0], args[1:]
		}
	} else if hasValue {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("option --%s must not have an argument", opt), Opt: "--" + opt}
	}
	return append(opts, Pair{Opt: "--" + name, Value: optarg}), args, nil
}

// longHasArgs follows getopt.long_has_args: an exact name wins, otherwise
// the prefix must be unique.
func longHasArgs(opt string, longopts []string) (bool, string, error) {
	var poss []string
	for _, o := range longopts {
		if strings.HasPrefix(o, opt) {
			poss = append(poss, o)
		}
	}
	if len(poss) == 0 {
		return false, "", &UsageError{Msg: fmt.Sprintf("option --%s not recognized", opt), Opt: "--" + opt}
	}
	for _, o := range poss {
		if o == opt {
			return false, opt, nil
		}
	}
	for _, o := range poss {
		if o == opt+"=" {
			return true, opt, nil
		}
	}
	if len(poss) > 1 {
		return false, "", &UsageError{Msg: fmt.Sprintf("option --%s not a unique prefix", opt), Opt: "--" + opt}
	}
	m := poss[0]
	if strings.HasSuffix(m, "=") {
		return true, m[:len(m)-1], nil
	}
	return false, m, nil
}

func doShorts(opts []Pair, optstring, shortopts string, args []string) ([]Pair, []string, error) {
	for optstring != "" {
		opt := optstring[:1]
		optstring = optstring[1:]
		needArg, err := shortHasArg(opt, shortopts)
		if err != nil {
			return nil, nil, err
		}
		var optarg string
		if needArg {
			if optstring == "" {
				if len(args) == 0 {
					return nil, nil, &UsageError{Msg: fmt.Sprintf("option -%s requires argument", opt), Opt: "-" + opt}
				}
				optstring, args = args[0], args[1:]
			}
			optarg, optstring = optstring, ""
		}
		opts = append(opts, Pair{Opt: "-" + opt, Value: optarg})
	}
	return opts, args, nil
}

func shortHasArg(opt, shortopts string) (bool, error) {
	for i := 0; i < len(shortopts); i++ {
		if shortopts[i] == opt[0] && opt != ":" {
			return i+1 < len(shortopts) && shortopts[i+1] == ':', nil
		}
	}
	return false, &UsageError{Msg: fmt.Sprintf("option -%s not recognized", opt), Opt: "-" + opt}
}

// Option describes one command-line option for Parser.
type Option struct {
	Name   string // the setting it fills; "" for options handled by the caller only
	Short  byte   // 0 when there is no short form
	Long   string // "" when there is no long form
	HasArg bool
	// Multi collects every occurrence (like -X) instead of applying the
	// repeat/conflict rule.
	Multi bool
	// Convert checks and converts the value (nil: keep the string). Its
	// error text follows "invalid value for -b 'x': ".
	Convert func(string) (any, error)
	// Flag is the value a flag option (HasArg false) sets; nil means true.
	Flag any
	// Stop ends Parse when the option is reached (zdaemon's -h and
	// --version act, and exit, as soon as option processing gets to them,
	// so "-h -b x" prints help while "-b x -h" reports the bad -b).
	Stop bool
}

// Parser holds a program's option table.
type Parser struct {
	Options []Option
}

// Result is what Parse found.
type Result struct {
	Values map[string]any      // Name -> converted value, for options given
	Multi  map[string][]string // Name -> every value of a Multi option
	Order  []Pair              // every occurrence in command-line order
	Args   []string            // positional words after the options
	// Stopped is the option (as written) at which Parse stopped because
	// its Option.Stop is set; "" when every option was processed.
	Stopped string
}

// Given reports whether the option filling name was on the command line.
func (r *Result) Given(name string) bool {
	_, ok := r.Values[name]
	if !ok {
		_, ok = r.Multi[name]
	}
	return ok
}

func (p *Parser) spec() (string, []string) {
	var short strings.Builder
	var long []string
	for _, o := range p.Options {
		if o.Short != 0 {
			short.WriteByte(o.Short)
			if o.HasArg {
				short.WriteByte(':')
			}
		}
		if o.Long != "" {
			l := o.Long
			if o.HasArg {
				l += "="
			}
			long = append(long, l)
		}
	}
	return short.String(), long
}

func (p *Parser) lookup(opt string) *Option {
	for i := range p.Options {
		o := &p.Options[i]
		if (o.Short != 0 && opt == "-"+string(o.Short)) || (o.Long != "" && opt == "--"+o.Long) {
			return o
		}
	}
	return nil
}

// Parse scans args (without argv[0]) and applies ZDOptions.realize's
// rules in command-line order. Options with an empty Name are only
// recorded in Order; the caller acts on them (-h, --version).
func (p *Parser) Parse(args []string) (*Result, error) {
	short, long := p.spec()
	pairs, rest, err := Scan(args, short, long)
	if err != nil {
		return nil, err
	}
	r := &Result{Values: map[string]any{}, Multi: map[string][]string{}, Order: pairs, Args: rest}
	for _, pr := range pairs {
		o := p.lookup(pr.Opt)
		if o != nil && o.Stop {
			r.Stopped = pr.Opt
			return r, nil
		}
		if o == nil || o.Name == "" {
			continue
		}
		if o.Multi {
			r.Multi[o.Name] = append(r.Multi[o.Name], pr.Value)
			continue
		}
		var v any = pr.Value
		switch {
		case !o.HasArg:
			v = o.Flag
			if v == nil {
				v = true
			}
		case o.Convert != nil:
			cv, err := o.Convert(pr.Value)
			if err != nil {
				return nil, &UsageError{Msg: fmt.Sprintf("invalid value for %s %s: %v", pr.Opt, pyrepr.Str(pr.Value), err), Opt: pr.Opt}
			}
			v = cv
		}
		if old, ok := r.Values[o.Name]; ok {
			// zdaemon: a repeated option that "just reinforces what we
			// have" is fine; a different value is an error.
			if reflect.DeepEqual(old, v) {
				continue
			}
			return nil, &UsageError{Msg: fmt.Sprintf("conflicting command line option %s", pyrepr.Str(pr.Opt)), Opt: pr.Opt}
		}
		r.Values[o.Name] = v
	}
	return r, nil
}
