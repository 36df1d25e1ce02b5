package zdctl_test

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// scriptCmds are the testscript commands the scripts add to the standard
// set.
var scriptCmds = map[string]func(ts *testscript.TestScript, neg bool, args []string){
	"jsonstatus": cmdJSONStatus,
}

// jsonstatus JSONFILE TEXTFILE checks that JSONFILE holds exactly one line,
// a "status --json" object, that says what the text "status" in TEXTFILE
// says: the same manager and program state and the same pid, with the raw
// reply's fields typed (application equal to pid, numbers as numbers,
// args as a list of strings).
func cmdJSONStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonstatus JSONFILE TEXTFILE")
	}
	data := ts.ReadFile(args[0])
	if strings.Count(data, "\n") != 1 || !strings.HasSuffix(data, "\n") {
		ts.Fatalf("%s: want one line, got %q", args[0], data)
	}
	var st struct {
		Manager string         `json:"manager"`
		Program string         `json:"program"`
		PID     *int           `json:"pid"`
		Raw     map[string]any `json:"raw"`
	}
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&st); err != nil {
		ts.Fatalf("%s: %v in %q", args[0], err, data)
	}
	if st.PID == nil || st.Raw == nil {
		ts.Fatalf("%s: pid or raw missing: %q", args[0], data)
	}
	var want string
	switch {
	case st.Manager == "not running" && st.Program == "not running":
		want = "daemon manager not running"
		if *st.PID != 0 || len(st.Raw) != 0 {
			ts.Fatalf("manager down but pid %d raw %v", *st.PID, st.Raw)
		}
	case st.Manager == "running" && st.Program == "not running":
		want = "daemon manager running; daemon process not running"
		if *st.PID != 0 {
			ts.Fatalf("program not running but pid %d", *st.PID)
		}
	case st.Manager == "running" && st.Program == "running":
		want = fmt.Sprintf("program running; pid=%d", *st.PID)
		if *st.PID <= 0 {
			ts.Fatalf("program running with pid %d", *st.PID)
		}
	default:
		ts.Fatalf("bad states manager=%q program=%q", st.Manager, st.Program)
	}
	text := strings.TrimSuffix(ts.ReadFile(args[1]), "\n")
	if text != want {
		ts.Fatalf("text status %q, JSON status says %q", text, want)
	}
	if st.Manager == "not running" {
		return
	}
	if app, ok := st.Raw["application"].(json.Number); !ok || app.String() != fmt.Sprint(*st.PID) {
		ts.Fatalf("raw application %v (%T) != pid %d", st.Raw["application"], st.Raw["application"], *st.PID)
	}
	for _, k := range []string{"now", "should_be_up", "delay", "backoff", "lasttime", "testing", "manager", "backofflimit"} {
		if _, ok := st.Raw[k].(json.Number); !ok {
			ts.Fatalf("raw %s = %v (%T), want a number", k, st.Raw[k], st.Raw[k])
		}
	}
	if s, ok := st.Raw["status"].(string); !ok || (s != "running" && s != "stopped") {
		ts.Fatalf("raw status = %v", st.Raw["status"])
	}
	if f, ok := st.Raw["filename"].(string); !ok || !strings.HasSuffix(f, "sleep") && !strings.HasSuffix(f, ".sh") {
		ts.Fatalf("raw filename = %v, want the program's path", st.Raw["filename"])
	}
	words, ok := st.Raw["args"].([]any)
	if !ok || len(words) == 0 {
		ts.Fatalf("raw args = %v, want a list", st.Raw["args"])
	}
	for _, w := range words {
		if _, ok := w.(string); !ok {
			ts.Fatalf("raw args = %v, want strings", st.Raw["args"])
		}
	}
}
