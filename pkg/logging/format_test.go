package logging

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/python-formats.json holds [format, datefmt, output] triples made
// by Python 3.11's logging.Formatter (converter = time.gmtime) for a
// LogRecord with the attribute values of pinnedRecord.
func pinnedRecord() *record {
	t := time.Unix(1795587364, 123e6).UTC()
	return &record{
		name: "ZEO.runzeo", level: LevelInfo, message: "hello 'x' é☃\n",
		time: t, start: t.Add(-1500250 * time.Microsecond),
		pathname: "/a/b/runzeo.py", lineno: 42, funcName: "main", process: 4242,
	}
}

func TestFormatsMatchPython(t *testing.T) {
	data, err := os.ReadFile("testdata/python-formats.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases [][3]string
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d cases", len(cases))
	}
	r := pinnedRecord()
	for _, c := range cases {
		pf, err := parseFormat(c[0])
		if err != nil {
			t.Errorf("parseFormat(%q): %v", c[0], err)
			continue
		}
		var asctime string
		if pf.usesTime {
			asctime = formatTime(r.time, c[1])
		}
		if got := string(pf.render(nil, r, asctime)); got != c[2] {
			t.Errorf("format %q:\n got %q\nwant %q", c[0], got, c[2])
		}
	}
}

func TestFormatErrors(t *testing.T) {
	cases := []struct{ format, msg string }{
		{"%(message)s %", "incomplete format at index 12"},
		{"%(message", "incomplete format key at index 0"},
		{"%(message)", "incomplete format at index 0"},
		{"%(nosuch)s", `unknown LogRecord attribute "nosuch" at index 0`},
		{"%(message)s %s", "conversion without a %(name) key at index 12"},
		{"%(message)q", `unsupported format character 'q' (0x71) at index 10`},
		{"%(message)é", `unsupported format character 'é' (0xe9) at index 10`},
		{"%(message)d", "%d cannot format message: a real number is required at index 0"},
		{"%(created)x", "%x cannot format created: an integer is required at index 0"},
		{"%(name)c", "%c cannot format name: %c requires an int or a single character at index 0"},
		{"%(message)*s", "'*' needs a positional argument at index 0"},
		{"%(message).*s", "'*' needs a positional argument at index 0"},
		{"%(message)99999s", "width or precision larger than 4096 at index 0"},
		{"no fields at all", "no %(name) field"},
		{"", "no %(name) field"},
	}
	for _, c := range cases {
		_, err := parseFormat(c.format)
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
			t.Errorf("parseFormat(%q) = %v, want a *FormatError", c.format, err)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) || fe.Format != c.format {
			t.Errorf("parseFormat(%q): %q does not contain %q", c.format, err, c.msg)
		}
	}
}

func TestExpandEscapes(t *testing.T) {
	cases := map[string]string{
		`------\n%(message)s`: "------\n%(message)s",
		`a\tb\rc\fd\be`:       "a\tb\rc\fd\be",
		`\\n`:                 "\\\n",
		`\x`:                  `\x`,
	}
	for in, want := range cases {
		if got := expandEscapes(in); got != want {
			t.Errorf("expandEscapes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2026, 3, 1, 7, 5, 9, 0, time.FixedZone("CET", 3600))
	cases := map[string]string{
		"%Y-%m-%dT%H:%M:%S": "2026-03-01T07:05:09",
		"%y %b %B %a %A":    "26 Mar March Sun Sunday",
		"%j %U %W %w %u %V": "060 09 08 0 7 09",
		"%I %l %p %e %k":    "07  7 AM  1  7",
		"%z %Z %%":          "+0100 CET %",
		"%c":                "Sun Mar  1 07:05:09 2026",
		"%D %F %T %R":       "03/01/26 2026-03-01 07:05:09 07:05",
		"%Q unknown, end %": "%Q unknown, end %",
		"%s":                "1772345109",
		"%C %G %g %h %n%t|": "20 2026 26 Mar \n\t|",
	}
	for f, want := range cases {
		if got := string(strftime(nil, f, tm)); got != want {
			t.Errorf("strftime(%q) = %q, want %q", f, got, want)
		}
	}
	pm := time.Date(2026, 12, 31, 0, 30, 0, 0, time.UTC)
	if got := string(strftime(nil, "%I %p %P %j", pm)); got != "12 AM am 365" {
		t.Errorf("midnight: %q", got)
	}
}

func TestParseLevel(t *testing.T) {
	good := map[string]Level{
		"info": 20, "INFO": 20, " Warn ": 30, "warning": 30, "blather": 15, "trace": 5,
		"all": 1, "notset": 0, "fatal": 50, "critical": 50, "error": 40, "debug": 10,
		"0": 0, "50": 50, "7": 7, "+7": 7, "1_0": 10,
	}
	for in, want := range good {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"verbose": `"verbose" is neither a level name nor an integer`,
		"51":      `"51" not in range 0..50`,
		"-1":      `"-1" not in range 0..50`,
		"":        `"" is neither`,
		"_1":      `"_1" is neither`,
		"1__0":    `"1__0" is neither`,
	}
	for in, msg := range bad {
		_, err := ParseLevel(in)
		if !errors.Is(err, ErrLevel) || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseLevel(%q) = %v, want %q", in, err, msg)
		}
	}
	names := map[Level]string{0: "NOTSET", 5: "TRACE", 10: "DEBUG", 15: "BLATHER", 20: "INFO",
		30: "WARNING", 40: "ERROR", 50: "CRITICAL", 1: "Level 1", 25: "Level 25"}
	for l, want := range names {
		if l.String() != want {
			t.Errorf("Level(%d).String() = %q, want %q", int(l), l.String(), want)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	cases := map[float64]string{
		1.0: "1.0", 0.1: "0.1", 1e16: "1e+16", 1e15: "1000000000000000.0", 1.5e-5: "1.5e-05",
		0.0001: "0.0001", 1795587364.123: "1795587364.123",
	}
	for f, want := range cases {
		if got := pyFloatRepr(f); got != want {
			t.Errorf("pyFloatRepr(%v) = %q, want %q", f, got, want)
		}
	}
}

// FuzzParseFormat feeds arbitrary format and date format strings through
// the parser and, when accepted, the renderer: nothing may panic, and
// rendering is deterministic.
func FuzzParseFormat(f *testing.F) {
	f.Add(DefaultFormat, DefaultDateFormat)
	f.Add("%(levelname)-8s %(message)r", "")
	f.Fuzz(func(t *testing.T, format, datefmt string) {
		pf, err := parseFormat(format)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Format != format {
				t.Fatalf("error %v is not a *FormatError for the input", err)
			}
			return
		}
		r := pinnedRecord()
		asctime := formatTime(r.time, datefmt)
		a := string(pf.render(nil, r, asctime))
		b := string(pf.render(nil, r, asctime))
		if a != b {
			t.Fatalf("render not deterministic: %q vs %q", a, b)
		}
	})
}
