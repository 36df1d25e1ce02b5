package zdctl

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestStatusFieldsTyped(t *testing.T) {
	// A zdrun reply (fixture 16-raw-socket shape) and a seed-era one.
	reply := "status=running\nnow=1795587435.0728025\nshould_be_up=1\ndelay=0\nbackoff=0\n" +
		"lasttime=1795587434.5\napplication=4242\ntesting=0\nmanager=4241\nbackofflimit=10\n" +
		"filename='/bin/sleep'\nargs=['sleep', \"it's\"]\n"
	got := string(statusFields(reply).bytes())
	want := `{"status":"running","now":1.7955874350728025e+09,"should_be_up":1,"delay":0,"backoff":0,` +
		`"lasttime":1.7955874345e+09,"application":4242,"testing":0,"manager":4241,"backofflimit":10,` +
		`"filename":"/bin/sleep","args":["sleep","it's"]}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(got), &m); err != nil {
		t.Fatal(err)
	}
	if m["now"].(float64) != 1795587435.0728025 {
		t.Errorf("now = %v", m["now"])
	}
	seed := "mood=1\napplication=7\nbogus line\nfilename='unterminated\nmood=2\n"
	if got, want := string(statusFields(seed).bytes()), `{"mood":1,"application":7,"filename":"'unterminated"}`; got != want {
		t.Errorf("seed: got %s want %s", got, want)
	}
	if got := string(statusFields("").bytes()); got != "{}" {
		t.Errorf("empty: %s", got)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", `q"b\`, "tab\tnl\ncr\r\x00\x1f\x7f", "héllo ☃", "bad\xffutf8", ""} {
		b := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		if back != want {
			t.Errorf("%q -> %s -> %q", s, b, back)
		}
	}
}

// FuzzStatusFields: any reply, however damaged, gives one valid JSON
// object whose keys are the reply's field names.
func FuzzStatusFields(f *testing.F) {
	f.Add("status=running\nnow=1.5\napplication=3\nargs=['a', 'b']\nfilename='/x'\n")
	f.Add("mood=-1\napplication=0\n")
	f.Add("now=1e+16\ndelay=inf\nx=0x1p3\nargs=[\n")
	f.Fuzz(func(t *testing.T, reply string) {
		b := statusFields(reply).bytes()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%q -> invalid JSON %s: %v", reply, b, err)
		}
		for k := range m {
			if !isFieldName(k) || k == "" {
				t.Fatalf("key %q not a field name", k)
			}
		}
		again := statusFields(reply).bytes()
		if !reflect.DeepEqual(b, again) {
			t.Fatalf("not deterministic")
		}
	})
}
