package getopt

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

var longs = []string{"help", "version", "configure=", "daemon", "directory=", "backoff-limit=", "program="}

func TestScan(t *testing.T) {
	cases := []struct {
		args  []string
		opts  []Pair
		rest  []string
		error string
	}{
		{args: []string{"-Cconf", "-C", "x", "start", "-b", "1"},
			opts: []Pair{{"-C", "conf"}, {"-C", "x"}}, rest: []string{"start", "-b", "1"}},
		{args: []string{"-db3", "kill"}, opts: []Pair{{"-d", ""}, {"-b", "3"}}, rest: []string{"kill"}},
		{args: []string{"--c=a.conf", "--back", "5", "--h"},
			opts: []Pair{{"--configure", "a.conf"}, {"--backoff-limit", "5"}, {"--help", ""}}, rest: []string{}},
		{args: []string{"--d"}, error: "option --d not a unique prefix"},
		{args: []string{"--daemon", "--", "-p"}, opts: []Pair{{"--daemon", ""}}, rest: []string{"-p"}},
		{args: []string{"-", "-d"}, rest: []string{"-", "-d"}},
		{args: []string{"--bogus-option", "status"}, error: "option --bogus-option not recognized"},
		{args: []string{"-q"}, error: "option -q not recognized"},
		{args: []string{"-C"}, error: "option -C requires argument"},
		{args: []string{"--program"}, error: "option --program requires argument"},
		{args: []string{"--daemon=1"}, error: "option --daemon must not have an argument"},
		{args: []string{"-:"}, error: "option -: not recognized"},
	}
	for _, c := range cases {
		opts, rest, err := Scan(c.args, "hdC:b:p:", longs)
		if c.error != "" {
			var ue *UsageError
			if !errors.As(err, &ue) || ue.Msg != c.error || !errors.Is(err, ErrUsage) {
				t.Errorf("%q: error %v, want %q", c.args, err, c.error)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if len(opts) == 0 {
			opts = nil
		}
		if !reflect.DeepEqual(opts, c.opts) || strings.Join(rest, "|") != strings.Join(c.rest, "|") {
			t.Errorf("%q: got %v %q, want %v %q", c.args, opts, rest, c.opts, c.rest)
		}
	}
}

func toInt(s string) (any, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("invalid literal for int() with base 10: " + pyrepr.Str(s))
	}
	return v, nil
}

func testParser() *Parser {
	return &Parser{Options: []Option{
		{Short: 'h', Long: "help"},
		{Name: "configfile", Short: 'C', Long: "configure", HasArg: true},
		{Name: "overrides", Short: 'X', HasArg: true, Multi: true},
		{Name: "backofflimit", Short: 'b', Long: "backoff-limit", HasArg: true, Convert: toInt},
		{Name: "daemon", Short: 'd', Long: "daemon", Flag: 1},
		{Name: "program", Short: 'p', Long: "program", HasArg: true},
	}}
}

func TestParseRepeatAndConflict(t *testing.T) {
	p := testParser()
	r, err := p.Parse([]string{"-Cconf", "-Cconf", "--configure=conf", "-b", "10", "-b010", "-d", "-d", "-Xa=1", "-X", "b=2", "-h", "start", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Values["configfile"] != "conf" || r.Values["backofflimit"] != 10 || r.Values["daemon"] != 1 {
		t.Errorf("values %v", r.Values)
	}
	if !reflect.DeepEqual(r.Multi["overrides"], []string{"a=1", "b=2"}) {
		t.Errorf("multi %v", r.Multi)
	}
	if !reflect.DeepEqual(r.Args, []string{"start", "x"}) || r.Order[len(r.Order)-1].Opt != "-h" {
		t.Errorf("args %v order %v", r.Args, r.Order)
	}
	if !r.Given("overrides") || r.Given("program") {
		t.Error("Given wrong")
	}

	_, err = p.Parse([]string{"-p", "sleep 1", "--prog", "sleep 2"})
	if err == nil || err.Error() != "conflicting command line option '--program'" {
		t.Errorf("conflict: %v", err)
	}
	_, err = p.Parse([]string{"-b", "notanumber", "status"})
	if err == nil || err.Error() != "invalid value for -b 'notanumber': invalid literal for int() with base 10: 'notanumber'" {
		t.Errorf("convert: %v", err)
	}
}

func TestPyRepr(t *testing.T) {
	cases := map[string]string{
		"abc": "'abc'", "it's": `"it's"`, `a'b"c`: `'a\'b"c'`, "a\nb\\": `'a\nb\\'`, "\x01": `'\x01'`,
	}
	for in, want := range cases {
		if got := pyrepr.Str(in); got != want {
			t.Errorf("pyrepr.Str(%q) = %s, want %s", in, got, want)
		}
	}
	if got := pyrepr.List([]string{"sleep", "100"}); got != "['sleep', '100']" {
		t.Errorf("PyList = %s", got)
	}
	if got := pyrepr.List(nil); got != "[]" {
		t.Errorf("pyrepr.List(nil) = %s", got)
	}
}

func TestReport(t *testing.T) {
	var b strings.Builder
	Usagef("no program specified; use -p or -C").Report(&b, "/usr/bin/zdctl")
	if b.String() != "Error: no program specified; use -p or -C\nFor help, use /usr/bin/zdctl -h\n" {
		t.Errorf("report %q", b.String())
	}
}

// FuzzScan checks that no command line makes the scanner panic and that
// every word is accounted for: options plus positional words never
// exceed the input.
func FuzzScan(f *testing.F) {
	f.Add("-Cconf\x00start\x00-b\x001")
	f.Add("--c=x\x00--d")
	f.Add("-db3\x00--\x00-p")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		opts, rest, err := Scan(args, "hdC:b:p:", longs)
		if err != nil {
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("error not a usage error: %v", err)
			}
			return
		}
		if len(rest) > len(args) {
			t.Fatalf("rest %d > args %d", len(rest), len(args))
		}
		for _, o := range opts {
			if !strings.HasPrefix(o.Opt, "-") {
				t.Fatalf("bad opt %q", o.Opt)
			}
		}
	})
}

func TestParseStop(t *testing.T) {
	p := testParser()
	p.Options[0].Stop = true
	r, err := p.Parse([]string{"-h", "-b", "x"})
	if err != nil || r.Stopped != "-h" {
		t.Errorf("-h first: %v %v", r, err)
	}
	_, err = p.Parse([]string{"-b", "x", "--help"})
	if err == nil || !strings.HasPrefix(err.Error(), "invalid value for -b 'x'") {
		t.Errorf("-b x first: %v", err)
	}
}
