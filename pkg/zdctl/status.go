package zdctl

import (
	"strconv"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// zdctl reads zdrun's status reply here rather than with pkg/control's
// ParseStatus, and so does not import pkg/control at all: that package
// compiles its regular expressions when the process starts and runs them
// on every reply, which together cost a one-shot "zdctl status" about
// 0.15 ms of its 2 ms budget. The results are the same:
// FuzzParseStatusSame compares the two on arbitrary input. The args= list
// is read with pkg/pyrepr, as control reads it.

// replyStatus is what zdctl uses of a status reply (docs/design/control-socket.md).
type replyStatus struct {
	application int // application=<pid or 0>
	shouldBeUp  int // should_be_up=0|1; 1 when absent (seed-era mood=)
	testing     int // testing=0|1; 0 when absent
	args        []string
	argsOK      bool // an args= line was there and parsed
}

// firstField returns the value of the first line of reply that starts
// with key (which ends in '='), as zdaemon's multi-line regular
// expressions find it (^key(.*)$ in re.M mode: lines end at '\n').
func firstField(reply, key string) (string, bool) {
	for line := range strings.SplitSeq(reply, "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return v, true
		}
	}
	return "", false
}

// firstDigits is firstField for a key whose value must be all ASCII
// digits: the first line that is key followed by digits only.
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

// parseStatus interprets a status reply as zdctl does (zdaemon 5.2.1 ZDCmd.get_status): ok is
// false when there is no "application=<digits>" line, i.e. no live
// manager answered.
func parseStatus(reply string) (st replyStatus, ok bool) {
	v, found := firstDigits(reply, "application=")
	if !found {
		return st, false
	}
	pid, err := strconv.Atoi(v)
	if err != nil { // digits but out of range: not a manager we understand
		return st, false
	}
	st.application = pid
	st.shouldBeUp = 1
	if v, found := firstDigits(reply, "should_be_up="); found {
		st.shouldBeUp, _ = strconv.Atoi(v)
	}
	if v, found := firstDigits(reply, "testing="); found {
		st.testing, _ = strconv.Atoi(v)
	}
	if v, found := firstField(reply, "args="); found {
		if args, err := pyrepr.ParseList(v); err == nil {
			st.args, st.argsOK = args, true
		}
	}
	return st, true
}
