package tracecli

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Opt describes one option.  Long is "--name", Short is "-x" (either may be
// empty).  Options without a value are flags.
type Opt struct {
	Long, Short string
	// Value is true for options that take one argument.
	Value bool
	// Metavar names the argument in the help text.
	Metavar string
	Help    string
}

// name is how argparse names an option in error messages: all its option
// strings joined by "/", in declaration order.
func (o *Opt) name() string {
	var s []string
	if o.Long != "" {
		s = append(s, o.Long)
	}
	if o.Short != "" {
		s = append(s, o.Short)
	}
	return strings.Join(s, "/")
}

// key is the identifier under which Parse reports the option.
func (o *Opt) key() string {
	if o.Long != "" {
		return o.Long
	}
	return o.Short
}

// Parser is a small argparse work-alike.
type Parser struct {
	Opts []*Opt
	// Exclusive lists groups of option keys of which at most one may be
	// given.
	Exclusive [][]string
	// HelpShort and HelpLong, when set, make Parse return ErrHelp as soon
	// as they are seen (cache_simul's standard -h/--help).
	HelpShort, HelpLong string
}

// Result is the outcome of Parse.
type Result struct {
	// Values maps option keys to their last value ("" for flags).
	Values map[string]string
	// Positional holds the non-option arguments in order.
	Positional []string
}

// Has reports whether the option with key k was given.
func (r *Result) Has(k string) bool { _, ok := r.Values[k]; return ok }

// UsageError is a command-line error; the commands print it after the
// usage text and exit with status 2, as argparse does.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ErrHelp is returned by Parse when the help option was given.
var ErrHelp = &UsageError{Msg: "help requested"}

// negNumber is argparse's _negative_number_matcher: such arguments are
// values, not options, because no option string of ours looks like one.
var negNumber = regexp.MustCompile(`^-\d+$|^-\d*\.\d+$`)

// isOption reports whether argparse would classify arg as an option string.
func isOption(arg string) bool {
	return len(arg) > 1 && arg[0] == '-' && !negNumber.MatchString(arg)
}

// Parse parses args.
func (p *Parser) Parse(args []string) (*Result, error) {
	res := &Result{Values: map[string]string{}}
	var unknown []string
	seen := map[string]bool{}
	set := func(o *Opt, v string) error {
		for _, g := range p.Exclusive {
			in := false
			for _, k := range g {
				if k == o.key() {
					in = true
				}
			}
			if !in {
				continue
			}
			for _, k := range g {
				if k != o.key() && seen[k] {
					return &UsageError{Msg: fmt.Sprintf("argument %s: not allowed with argument %s", o.name(), p.find(k).name())}
				}
			}
		}
		seen[o.key()] = true
		res.Values[o.key()] = v
		return nil
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			res.Positional = append(res.Positional, args[i+1:]...)
			break
		}
		if !isOption(arg) {
			res.Positional = append(res.Positional, arg)
			continue
		}
		if (p.HelpShort != "" && arg == p.HelpShort) || (p.HelpLong != "" && arg == p.HelpLong) {
			return nil, ErrHelp
		}
		if strings.HasPrefix(arg, "--") {
			name, val, hasVal := strings.Cut(arg, "=")
			o, err := p.long(name)
			if err != nil {
				return nil, err
			}
			if o == nil {
				if p.HelpLong != "" && strings.HasPrefix(p.HelpLong, name) {
					return nil, ErrHelp
				}
				unknown = append(unknown, arg)
				continue
			}
			if !o.Value {
				if hasVal {
					return nil, &UsageError{Msg: fmt.Sprintf("argument %s: ignored explicit argument '%s'", o.name(), val)}
				}
				if err := set(o, ""); err != nil {
					return nil, err
				}
				continue
			}
			if !hasVal {
				if i+1 >= len(args) || isOption(args[i+1]) {
					return nil, &UsageError{Msg: fmt.Sprintf("argument %s: expected one argument", o.name())}
				}
				i++
				val = args[i]
			}
			if err := set(o, val); err != nil {
				return nil, err
			}
			continue
		}
		// A cluster of short options: "-vs", "-i5", "-i".
		rest := arg[1:]
		for rest != "" {
			o := p.short("-" + rest[:1])
			if o == nil {
				if p.HelpShort != "" && "-"+rest[:1] == p.HelpShort {
					return nil, ErrHelp
				}
				unknown = append(unknown, arg)
				break
			}
			rest = rest[1:]
			if !o.Value {
				if err := set(o, ""); err != nil {
					return nil, err
				}
				continue
			}
			val := rest
			if val == "" {
				if i+1 >= len(args) || isOption(args[i+1]) {
					return nil, &UsageError{Msg: fmt.Sprintf("argument %s: expected one argument", o.name())}
				}
				i++
				val = args[i]
			} else if val[0] == '=' {
				val = val[1:]
			}
			if err := set(o, val); err != nil {
				return nil, err
			}
			rest = ""
		}
	}
	if len(unknown) > 0 {
		return res, &UsageError{Msg: "unrecognized arguments: " + strings.Join(unknown, " ")}
	}
	return res, nil
}

func (p *Parser) find(key string) *Opt {
	for _, o := range p.Opts {
		if o.key() == key {
			return o
		}
	}
	return nil
}

func (p *Parser) short(s string) *Opt {
	for _, o := range p.Opts {
		if o.Short == s {
			return o
		}
	}
	return nil
}

// long finds a long option by its exact name or a unique prefix (argparse's
// allow_abbrev).
func (p *Parser) long(name string) (*Opt, error) {
	var matches []*Opt
	for _, o := range p.Opts {
		if o.Long == name {
			return o, nil
		}
		if o.Long != "" && strings.HasPrefix(o.Long, name) {
			matches = append(matches, o)
		}
	}
	switch len(matches) {
	case 0:
		return nil, nil
	case 1:
		return matches[0], nil
	}
	var names []string
	for _, o := range matches {
		names = append(names, o.Long)
	}
	return nil, &UsageError{Msg: fmt.Sprintf("ambiguous option: %s could match %s", name, strings.Join(names, ", "))}
}

// ParseFloat parses a number the way Python's float() does for the
// values users pass (surrounding blanks allowed).  NaN and infinities are
// refused: Python turns them into a crash (int(inf)) or nonsense.
func ParseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Interval converts an -i/--interval argument (minutes, a float) to
// seconds with cache_stats' rule: int(60*float(a)); <= 0 becomes 60 and
// more than 3600 becomes 3600.
func Interval(s string) (int64, bool) {
	f, ok := ParseFloat(s)
	if !ok {
		return 0, false
	}
	v := 60 * f
	if v > 3600 {
		return 3600, true
	}
	if iv := int64(v); iv > 0 {
		return iv, true
	}
	return 60, true
}

// InvalidValue is argparse's message for a value its type function
// rejected.
func InvalidValue(o *Opt, typ, val string) error {
	return &UsageError{Msg: fmt.Sprintf("argument %s: invalid %s value: '%s'", o.name(), typ, val)}
}
