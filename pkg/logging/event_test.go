package logging

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestDecodeEvents(t *testing.T) {
	l := &Log{now: func() time.Time { return time.Unix(0, 0) }, pid: 7}
	cases := []struct {
		in        string
		name, msg string
		level     Level
	}{
		{`{"level":"info","logger":"zdrun","message":"spawned process pid=42"}` + "\n", "zdrun", "spawned process pid=42", LevelInfo},
		{`{"level":"fatal","levelno":15,"logger":"ZEO","message":"x"}`, "ZEO", "x", LevelBlather},
		{`{"level":"warn","message":"tab\there \"q\" \u00e9"}`, RootName, "tab\there \"q\" é", LevelWarning},
		{` { "level" : "error" , "k\"ey" : {"a":[1,"}"]}, "n":null, "message":"m" } `, RootName, `m k"ey={"a":[1,"}"]} n=null`, LevelError},
		{`{}`, RootName, "", LevelInfo},
		{`{"message":"no level"}`, RootName, "no level", LevelInfo},
		{`{"level":"debug","caller":"/src/x.go:12","message":"c"}`, RootName, "c", LevelDebug},
		{"not json at all\n", RootName, "not json at all", LevelInfo},
		{`{"message":"unterminated}`, RootName, `{"message":"unterminated}`, LevelInfo},
		{`{"a":1}trailing`, RootName, `{"a":1}trailing`, LevelInfo},
	}
	for _, c := range cases {
		r := l.decode([]byte(c.in))
		if r.name != c.name || r.message != c.msg || r.level != c.level {
			t.Errorf("decode(%q) = name %q msg %q level %d; want %q %q %d", c.in, r.name, r.message, r.level, c.name, c.msg, c.level)
		}
	}
	r := l.decode([]byte(`{"level":"debug","caller":"/src/x.go:12","message":"c"}`))
	if r.pathname != "/src/x.go" || r.lineno != 12 || r.process != 7 {
		t.Errorf("caller: %+v", r)
	}
}

// FuzzDecodeEvent: the event scanner never panics, and every valid JSON
// object is accepted.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"level":"info","levelno":20,"logger":"root","message":"m","x":{"y":[1,2]}}` + "\n"))
	f.Add([]byte(`{"k\\u0041":"v\"","n":-1.5e3,"b":true}`))
	f.Add([]byte(`not json`))
	l := &Log{now: time.Now}
	f.Fuzz(func(t *testing.T, p []byte) {
		r := l.decode(p)
		trimmed := bytes.TrimSpace(p)
		if json.Valid(p) && len(trimmed) > 0 && trimmed[0] == '{' {
			if !scanObject(p, func([]byte, bool, []byte) {}) {
				t.Fatalf("valid object %q refused", p)
			}
		}
		_ = r
	})
}
