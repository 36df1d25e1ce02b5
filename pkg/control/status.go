package control

import (
	"strconv"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// Status is the content of a "status" reply (docs/design/control-socket.md). Field order in the
// reply is the order of the fields here.
type Status struct {
	Running      bool    // status=running|stopped
	Now          float64 // now=<epoch float>
	ShouldBeUp   int     // should_be_up=0|1
	Delay        float64 // delay=<epoch float of the next spawn, or 0>
	Backoff      int     // backoff=<int>
	LastTime     float64 // lasttime=<epoch float of the last spawn, or 0>
	Application  int     // application=<pid or 0>
	Testing      int     // testing=0|1
	Manager      int     // manager=<zdrun pid>
	BackoffLimit int     // backofflimit=<int>
	Filename     string  // filename=<repr of the resolved program path>
	Args         []string
	// ArgsOK reports whether the args= line was present and parsed.
	ArgsOK bool
	// Raw is the reply as received (ParseStatus) or produced (Format).
	Raw string
}

// zdctl searches the reply with multi-line regular expressions
// (zdaemon 5.2.1 ZDCmd.get_status: re.search(r"^application=(\d+)$",
// reply, re.M) and so on); doing the same, rather than a strict
// line-by-line parse, keeps a Go zdctl working against a Python zdrun, and
// against a 2003 zdrun that sends mood= instead of should_be_up= and no
// testing=. The scan below finds what those expressions find without
// compiling any: a one-shot "zdctl status" has a 2 ms budget, and the
// regular expressions alone cost 0.15 ms of it at start-up. The test
// FuzzParseStatusMatchesRegexps holds it to the expressions.

// firstField returns the value of the first line of reply that starts
// with key (which ends in '='): ^key(.*)$ in multi-line mode, where lines
// end at '\n'.
func firstField(reply, key string) (string, bool) {
	for line := range strings.SplitSeq(reply, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return v, true
		}
	}
	return "", false
}

// firstDigits is firstField for a key whose value must be ASCII digits
// only: ^key(\d+)$.
func firstDigits(reply, key string) (string, bool) {
	for line := range strings.SplitSeq(reply, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok && allDigits(v) {
			return v, true
		}
	}
	return "", false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fieldName reports whether key is a status key as ^([a-z_]+)= sees it.
func fieldName(key string) bool {
	if key == "" {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c != '_' && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

// ParseStatus interprets a status reply the way zdctl does (zdaemon 5.2.1
// ZDCmd.get_status). ok is false when the reply does not show a live
// manager, i.e. it has no "application=<digits>" line; the caller then
// reports "daemon manager not running". should_be_up defaults to 1 and
// testing to 0 when absent. The other fields are filled in when present
// and well formed, else left zero; Raw is the reply.
func ParseStatus(reply string) (st Status, ok bool) {
	st.Raw = reply
	v, found := firstDigits(reply, "application=")
	if !found {
		return st, false
	}
	pid, err := strconv.Atoi(v)
	if err != nil { // digits but out of range: not a manager we understand
		return st, false
	}
	st.Application = pid
	st.ShouldBeUp = 1
	if v, found := firstDigits(reply, "should_be_up="); found {
		st.ShouldBeUp, _ = strconv.Atoi(v)
	}
	if v, found := firstDigits(reply, "testing="); found {
		st.Testing, _ = strconv.Atoi(v)
	}
	if v, found := firstField(reply, "args="); found {
		if args, err := pyrepr.ParseList(v); err == nil {
			st.Args, st.ArgsOK = args, true
		}
	}
	for line := range strings.SplitSeq(reply, "\n") {
		key, v, found := strings.Cut(line, "=")
		if !found || !fieldName(key) {
			continue
		}
		switch key {
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

// Format renders the 12-line status reply exactly as zdrun does (zdaemon 5.2.1 Daemonizer.cmd_status),
// ending in a newline.
func (st *Status) Format() string {
	var b strings.Builder
	status := "stopped"
	if st.Running {
		status = "running"
	}
	b.WriteString("status=" + status + "\n")
	b.WriteString("now=" + PyFloat(st.Now) + "\n")
	b.WriteString("should_be_up=" + strconv.Itoa(st.ShouldBeUp) + "\n")
	b.WriteString("delay=" + pyTimeOrZero(st.Delay) + "\n")
	b.WriteString("backoff=" + strconv.Itoa(st.Backoff) + "\n")
	b.WriteString("lasttime=" + pyTimeOrZero(st.LastTime) + "\n")
	b.WriteString("application=" + strconv.Itoa(st.Application) + "\n")
	b.WriteString("testing=" + strconv.Itoa(st.Testing) + "\n")
	b.WriteString("manager=" + strconv.Itoa(st.Manager) + "\n")
	b.WriteString("backofflimit=" + strconv.Itoa(st.BackoffLimit) + "\n")
	b.WriteString("filename=" + pyrepr.Str(st.Filename) + "\n")
	b.WriteString("args=" + pyrepr.List(st.Args) + "\n")
	return b.String()
}

// zdrun keeps delay and lasttime as the int 0 until they are set, so they
// print as "0", not "0.0" (fixture 16-raw-socket: "delay=0").
func pyTimeOrZero(f float64) string {
	if f == 0 {
		return "0"
	}
	return PyFloat(f)
}

// PyFloat formats f like Python's repr(float): the shortest text that reads
// back as f, always with a '.' or an exponent ("1795587435.0728025",
// "12.0", "1e+16").
func PyFloat(f float64) string {
	abs := f
	if abs < 0 {
		abs = -abs
	}
	if abs != 0 && (abs >= 1e16 || abs < 1e-4) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+16 / e-05, Python e+16 / e-05: both pad to two
		// digits, so they already agree.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") {
		s += ".0"
	}
	return s
}
