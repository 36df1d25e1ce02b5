package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// TestFormatJSONConfig: both schemas accept "format json" (a plain string
// key to ZConfig), and FromNode turns it into FormatJSON.
func TestFormatJSONConfig(t *testing.T) {
	for name, c := range map[string]struct {
		schema *zconfig.Schema
		text   string
	}{
		"zdaemon": {zconfig.ZDaemonSchema, runnerOnly + "<eventlog>\n <logfile>\n  path x.log\n  format json\n </logfile>\n</eventlog>\n"},
		"zeo": {zconfig.ZEOSchema, "<zeo>\n address 127.0.0.1:0\n</zeo>\n<filestorage>\n path Data.fs\n</filestorage>\n" +
			"<eventlog>\n <logfile>\n  path STDERR\n  format  Json \n </logfile>\n</eventlog>\n"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := FromNode(loadEventlog(t, c.schema, c.text))
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Handlers) != 1 || cfg.Handlers[0].Format != FormatJSON {
				t.Fatalf("handlers %+v", cfg.Handlers)
			}
		})
	}
}

// TestFormatJSONRecords: every line is one JSON object; zerolog fields stay
// typed JSON values; a real newline stays inside its line; an event's own
// time is kept; bytes that are not an event still give a JSON line.
func TestFormatJSONRecords(t *testing.T) {
	var js, py bytes.Buffer
	l, err := Open(Config{Level: LevelDebug, Handlers: []HandlerConfig{
		{Writer: &js, Format: FormatJSON},
		{Writer: &py, Format: "%(levelname)s %(name)s %(message)s", Level: LevelInfo},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	when := time.Date(2026, 11, 25, 6, 16, 4, 123e6, time.FixedZone("X", 3600))
	l.now = func() time.Time { return when }
	g := l.Logger("ZEO.StorageServer")
	g.Infof("two\nlines, %q", "q")
	g.Debugf("debug only in JSON")
	zl := l.Zerolog("zdrun")
	zl.Warn().Str("program", "sleep").Int("pid", 42).Dict("st", zlDict()).Msg("spawned")
	zl.Info().Time("time", when.Add(time.Hour)).Msg("own time")
	sink{l}.Write([]byte("not json at all\n"))

	lines := strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), js.String())
	}
	var recs []map[string]any
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		recs = append(recs, m)
	}
	check := func(i int, key string, want any) {
		t.Helper()
		if got := recs[i][key]; got != want {
			t.Errorf("record %d %s = %#v, want %#v", i, key, got, want)
		}
	}
	check(0, "time", "2026-11-25T06:16:04.123+01:00")
	check(0, "level", "info")
	check(0, "levelno", 20.0)
	check(0, "logger", "ZEO.StorageServer")
	check(0, "message", "two\nlines, \"q\"")
	check(1, "levelno", 10.0)
	check(1, "message", "debug only in JSON")
	check(2, "level", "warn")
	check(2, "logger", "zdrun")
	check(2, "program", "sleep")
	check(2, "pid", 42.0)
	check(2, "message", "spawned")
	if st, ok := recs[2]["st"].(map[string]any); !ok || st["n"] != 1.0 {
		t.Errorf("nested dict %#v", recs[2]["st"])
	}
	check(3, "message", "own time")
	if !strings.HasPrefix(lines[3], `{"level":"info"`) || strings.Count(lines[3], `"time"`) != 1 {
		t.Errorf("own time line %s", lines[3])
	}
	check(4, "message", "not json at all")
	check(4, "logger", "root")
	check(4, "time", "2026-11-25T06:16:04.123+01:00")
	// The Python handler of the same log is untouched by the JSON one.
	wantPy := "INFO ZEO.StorageServer two\nlines, \"q\"\nWARNING zdrun spawned program=sleep pid=42 st={\"n\":1}\nINFO zdrun own time\nINFO root not json at all\n"
	if py.String() != wantPy {
		t.Errorf("python handler:\n%q\nwant\n%q", py.String(), wantPy)
	}
}

func zlDict() *zerolog.Event { return zerolog.Dict().Int("n", 1) }
