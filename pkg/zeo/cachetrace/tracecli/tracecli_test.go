package tracecli

import (
	"strings"
	"testing"
	"time"
)

var (
	oV = &Opt{Long: "--verbose", Short: "-v"}
	oQ = &Opt{Long: "--quiet", Short: "-q"}
	oI = &Opt{Long: "--interval", Short: "-i", Value: true}
	oN = &Opt{Long: "--no-stats", Short: "-S"}
	p  = &Parser{Opts: []*Opt{oV, oQ, oI, oN}, Exclusive: [][]string{{"--verbose", "--quiet"}}}
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		vals map[string]string
		pos  []string
		err  string
	}{
		{[]string{"-vS", "f"}, map[string]string{"--verbose": "", "--no-stats": ""}, []string{"f"}, ""},
		{[]string{"-i5", "f"}, map[string]string{"--interval": "5"}, []string{"f"}, ""},
		{[]string{"-i", "-5", "f"}, map[string]string{"--interval": "-5"}, []string{"f"}, ""},
		{[]string{"--int=2", "-"}, map[string]string{"--interval": "2"}, []string{"-"}, ""},
		{[]string{"--", "-v"}, map[string]string{}, []string{"-v"}, ""},
		{[]string{"-v", "-v", "x"}, map[string]string{"--verbose": ""}, []string{"x"}, ""},
		{[]string{"-v", "-q"}, nil, nil, "argument --quiet/-q: not allowed with argument --verbose/-v"},
		{[]string{"-i"}, nil, nil, "argument --interval/-i: expected one argument"},
		{[]string{"-i", "-v"}, nil, nil, "argument --interval/-i: expected one argument"},
		{[]string{"--no"}, map[string]string{"--no-stats": ""}, nil, ""},
		{[]string{"-x", "--what", "f"}, nil, nil, "unrecognized arguments: -x --what"},
		{[]string{"--quiet=1"}, nil, nil, "argument --quiet/-q: ignored explicit argument '1'"},
	} {
		r, err := p.Parse(tc.args)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if len(r.Values) != len(tc.vals) || strings.Join(r.Positional, " ") != strings.Join(tc.pos, " ") {
			t.Errorf("%q: %v %q", tc.args, r.Values, r.Positional)
		}
		for k, v := range tc.vals {
			if r.Values[k] != v {
				t.Errorf("%q: %s = %q, want %q", tc.args, k, r.Values[k], v)
			}
		}
	}
	amb := &Parser{Opts: []*Opt{{Long: "--size"}, {Long: "--sizes"}}}
	if _, err := amb.Parse([]string{"--si"}); err == nil || !strings.Contains(err.Error(), "ambiguous option: --si could match --size, --sizes") {
		t.Errorf("ambiguous: %v", err)
	}
}

func TestInterval(t *testing.T) {
	for in, want := range map[string]int64{"15": 900, "0": 60, "-3": 60, "0.001": 60, "60": 3600, "120": 3600, "0.5": 30, " 2 ": 120, "1e1": 600} {
		if got, ok := Interval(in); !ok || got != want {
			t.Errorf("Interval(%q) = %d %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"x", "nan", "inf", ""} {
		if _, ok := Interval(in); ok {
			t.Errorf("Interval(%q) accepted", in)
		}
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 228490: "228,490", -1477753509: "-1,477,753,509"} {
		if got := Commas(n); got != want {
			t.Errorf("Commas(%d) = %q", n, got)
		}
	}
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	if got := Ctime(1700000000); got != "Tue Nov 14 22:13:20 2023" {
		t.Errorf("Ctime = %q", got)
	}
	if got := Ctime(1700000000 + 86400*6); got != "Mon Nov 20 22:13:20 2023" {
		t.Errorf("Ctime = %q", got)
	}
	if got := Ctime(1699000000); got != "Fri Nov  3 08:26:40 2023" {
		t.Errorf("Ctime = %q (day must be space padded)", got)
	}
	if got := string(AppendPercent(nil, 45.45)); got != " 45.5%" {
		t.Errorf("AppendPercent = %q", got)
	}
	for _, c := range [][3]int64{{7, 2, 3}, {-7, 2, -4}, {-6, 3, -2}, {6, -4, -2}} {
		if got := FloorDiv(c[0], c[1]); got != c[2] {
			t.Errorf("FloorDiv(%d, %d) = %d", c[0], c[1], got)
		}
	}
}

// FuzzParse: any argument list parses or gives a UsageError, never
// panics; every value returned belongs to a declared option.
func FuzzParse(f *testing.F) {
	f.Add("-vS\x00-i5\x00f")
	f.Add("--int=2\x00-\x00--\x00-v")
	f.Add("-i\x00-5\x00-q\x00-v")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := p.Parse(strings.Split(s, "\x00"))
		if err != nil {
			if _, ok := err.(*UsageError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		for k := range r.Values {
			if p.find(k) == nil {
				t.Fatalf("value for undeclared %q", k)
			}
		}
	})
}
