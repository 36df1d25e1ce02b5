package control

import (
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// The regular expressions zdaemon 5.2.1's zdctl (ZDCmd.get_status) applies
// to a status reply, as an oracle for ParseStatus's line scan.
var (
	oracleApplication = regexp.MustCompile(`(?m)^application=(\d+)$`)
	oracleShouldBeUp  = regexp.MustCompile(`(?m)^should_be_up=(\d+)$`)
	oracleTesting     = regexp.MustCompile(`(?m)^testing=(\d+)$`)
	oracleArgs        = regexp.MustCompile(`(?m)^args=(.*)$`)
	oracleField       = regexp.MustCompile(`(?m)^([a-z_]+)=(.*)$`)
)

// oracleParse is ParseStatus written with the regular expressions.
func oracleParse(reply string) (st Status, ok bool) {
	st.Raw = reply
	m := oracleApplication.FindStringSubmatch(reply)
	if m == nil {
		return st, false
	}
	pid, err := strconv.Atoi(m[1])
	if err != nil {
		return st, false
	}
	st.Application, st.ShouldBeUp = pid, 1
	if m := oracleShouldBeUp.FindStringSubmatch(reply); m != nil {
		st.ShouldBeUp, _ = strconv.Atoi(m[1])
	}
	if m := oracleTesting.FindStringSubmatch(reply); m != nil {
		st.Testing, _ = strconv.Atoi(m[1])
	}
	if m := oracleArgs.FindStringSubmatch(reply); m != nil {
		if args, err := pyrepr.ParseList(m[1]); err == nil {
			st.Args, st.ArgsOK = args, true
		}
	}
	for _, f := range oracleField.FindAllStringSubmatch(reply, -1) {
		v := f[2]
		switch f[1] {
		case "status":
			st.Running = v == "running"
		case "now":
			st.Now, _ = strconv.ParseFloat(v, 64)
		case "delay":
			st.Delay, _ = strconv.ParseFloat(v, 64)
		case "backoff":
			st.Backoff, _ = strconv.Atoi(v)
		case "lasttime":
			st.LastTime, _ = strconv.ParseFloat(v, 64)
		case "manager":
			st.Manager, _ = strconv.Atoi(v)
		case "backofflimit":
			st.BackoffLimit, _ = strconv.Atoi(v)
		case "filename":
			if ws, err := pyrepr.ParseList("[" + v + "]"); err == nil && len(ws) == 1 {
				st.Filename = ws[0]
			}
		}
	}
	return st, true
}

func sameAsOracle(t *testing.T, reply string) {
	t.Helper()
	got, ok := ParseStatus(reply)
	want, wok := oracleParse(reply)
	if ok != wok {
		t.Fatalf("%q: ok %v, the regular expressions say %v", reply, ok, wok)
	}
	eqFloat := func(a, b float64) bool { return a == b || (a != a && b != b) }
	if got.Running != want.Running || !eqFloat(got.Now, want.Now) || got.ShouldBeUp != want.ShouldBeUp ||
		!eqFloat(got.Delay, want.Delay) || got.Backoff != want.Backoff || !eqFloat(got.LastTime, want.LastTime) ||
		got.Application != want.Application || got.Testing != want.Testing || got.Manager != want.Manager ||
		got.BackoffLimit != want.BackoffLimit || got.Filename != want.Filename ||
		got.ArgsOK != want.ArgsOK || !slices.Equal(got.Args, want.Args) {
		t.Fatalf("%q:\n got %+v\nwant %+v", reply, got, want)
	}
}

func TestParseStatusMatchesRegexps(t *testing.T) {
	for _, r := range []string{
		"status=running\nnow=1.5\nshould_be_up=1\ndelay=0\nbackoff=0\nlasttime=0\napplication=12\ntesting=0\nmanager=11\nbackofflimit=10\nfilename='/bin/sleep'\nargs=['sleep', '100']\n",
		"mood=1\napplication=0\n", "application=\napplication=7\n", "application=99999999999999999999\n",
		"application=3\nshould_be_up=x\nshould_be_up=0\ntesting=1\nargs=['a'\nargs=['b']\n", "", "application=3\r\n",
		"application=1\nBad=2\nnow=nan\nmanager=a=b\nfilename='x'\nfilename=\"y\"\n", "application=1\nx\xff=1\nstatus=running\xff\n",
	} {
		sameAsOracle(t, r)
	}
}

// FuzzParseStatusMatchesRegexps: the line scan finds what zdctl's regular
// expressions find, on any input.
func FuzzParseStatusMatchesRegexps(f *testing.F) {
	f.Add("status=running\napplication=12\ntesting=1\nshould_be_up=0\nargs=['sleep', '\\xff\\udcff']\n")
	f.Add("application=1\nargs=[\"a\\\"b\", 'c',]\n")
	f.Add("application=0\nargs=['\\U0001F600\\n\\t\\0']\n")
	f.Fuzz(func(t *testing.T, reply string) { sameAsOracle(t, reply) })
}
