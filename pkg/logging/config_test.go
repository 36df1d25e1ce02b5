package logging

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zconfig"
)

func loadEventlog(t *testing.T, schema *zconfig.Schema, text string) *zconfig.Node {
	t.Helper()
	root, err := schema.Load(strings.NewReader(text), "/etc/test.conf")
	if err != nil {
		t.Fatalf("zconfig: %v", err)
	}
	return root.Section("eventlog")
}

const runnerOnly = "<runner>\n  program sleep 100\n</runner>\n"

func TestFromNode(t *testing.T) {
	cases := []struct {
		name, text string
		want       Config
	}{
		{"fixture 05 zd.conf", runnerOnly + "<eventlog>\n  <logfile>\n    path zdrun.log\n  </logfile>\n</eventlog>\n",
			Config{Level: LevelInfo, Handlers: []HandlerConfig{{Path: "zdrun.log", Format: DefaultFormat, DateFormat: DefaultDateFormat}}}},
		{"levels, formats, streams", runnerOnly + `<eventlog>
  level blather
  <logfile>
    path STDOUT
    level WARNING
    format %(levelname)s\t%(message)s
    dateformat %H:%M
  </logfile>
  <logfile>
    path /var/log/zeo.log
    level 7
    format
    encoding utf-8
    delay true
  </logfile>
  <logfile>
    path STDERR
    max-size 0
  </logfile>
</eventlog>
`, Config{Level: LevelBlather, Handlers: []HandlerConfig{
			{Path: Stdout, Level: LevelWarning, Format: "%(levelname)s\t%(message)s", DateFormat: "%H:%M"},
			{Path: "/var/log/zeo.log", Level: 7, Format: "%(message)s", DateFormat: DefaultDateFormat},
			{Path: Stderr, Format: DefaultFormat, DateFormat: DefaultDateFormat},
		}}},
		{"no handlers", runnerOnly + "<eventlog>\n  level debug\n</eventlog>\n", Config{Level: LevelDebug}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := FromNode(loadEventlog(t, zconfig.ZDaemonSchema, c.text))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg, c.want) {
				t.Errorf("got  %+v\nwant %+v", cfg, c.want)
			}
		})
	}
}

// The <runner> section's own <eventlog> is what zdrun uses when present
// (zdaemon 5.2.1 component.xml); it is read by the same function.
func TestFromNodeRunnerEventlog(t *testing.T) {
	root, err := zconfig.ZDaemonSchema.Load(strings.NewReader(`<runner>
  program sleep 100
  <eventlog>
    level debug
    <logfile>
      path STDERR
    </logfile>
  </eventlog>
</runner>
`), "/etc/zd.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := FromNode(root.Section("runner").Section("eventlog"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Level != LevelDebug || len(cfg.Handlers) != 1 || cfg.Handlers[0].Path != Stderr {
		t.Errorf("got %+v", cfg)
	}
}

func TestFromNodeZEOConf(t *testing.T) {
	root, err := zconfig.ZEOSchema.Load(strings.NewReader(`<zeo>
  address 9999
</zeo>
<filestorage 1>
  path /tmp/Data.fs
</filestorage>
<eventlog>
  <logfile>
    path /tmp/zeo.log
  </logfile>
</eventlog>
`), "/etc/zeo.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := FromNode(root.Section("eventlog"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Level: LevelInfo, Handlers: []HandlerConfig{{Path: "/tmp/zeo.log", Format: DefaultFormat, DateFormat: DefaultDateFormat}}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v", cfg)
	}
}

func TestFromNodeErrors(t *testing.T) {
	handler := func(body string) string {
		return runnerOnly + "<eventlog>\n  <logfile>\n    path /tmp/x.log\n" + body + "  </logfile>\n</eventlog>\n"
	}
	cases := []struct {
		name, text string
		is         error
		msg        string
	}{
		{"bad format", handler("    format %(nosuch)s\n"), ErrFormat,
			`unknown LogRecord attribute "nosuch" at index 0 for key 'format' in <logfile> (line 7, in file:///etc/test.conf)`},
		{"format without field", handler("    format plain text\n"), ErrFormat, "no %(name) field"},
		{"old-files missing", handler("    max-size 10MB\n"), ErrConfig,
			"old-files must be set for log rotation for key 'max-size' in <logfile> (line 7"},
		{"when without old-files", handler("    when D\n"), ErrConfig, "old-files must be set for log rotation for key 'when'"},
		{"old-files alone", handler("    old-files 3\n"), ErrConfig, "max-bytes or when must be set for log rotation"},
		{"both size and time", handler("    max-size 1MB\n    when D\n    old-files 3\n"), ErrConfig, "can't set *both* max_bytes and when"},
		{"bad when", handler("    when fortnight\n    old-files 3\n"), ErrRotation, "Invalid rollover interval specified: FORTNIGHT for key 'when'"},
		{"bad weekday", handler("    when W7\n    old-files 3\n"), ErrRotation, "Invalid day specified for weekly rollover: W7"},
		{"weekday missing", handler("    when W\n    old-files 3\n"), ErrRotation, "You must specify a day for weekly rollover from 0 to 6 (0 is Monday): W"},
		{"encoding", handler("    encoding latin-1\n"), ErrConfig, "only UTF-8 is written"},
		{"formatter", handler("    formatter zope.exceptions.log.Formatter\n"), ErrConfig, "Python formatter classes are not supported"},
		{"arbitrary fields", handler("    arbitrary-fields true\n"), ErrConfig, "arbitrary fields are not supported"},
		{"stream rotation", runnerOnly + "<eventlog>\n  <logfile>\n    path STDOUT\n    old-files 2\n  </logfile>\n</eventlog>\n", ErrConfig,
			"cannot rotate STDOUT for key 'old-files' in <logfile> (line 7"},
		{"stream delay", runnerOnly + "<eventlog>\n  <logfile>\n    path STDERR\n    delay true\n  </logfile>\n</eventlog>\n", ErrConfig,
			"cannot delay opening STDERR"},
		{"syslog facility", runnerOnly + "<eventlog>\n  <syslog>\n    facility nosuch\n  </syslog>\n</eventlog>\n", ErrConfig,
			"Syslog facility must be one of auth, authpriv, cron, daemon, kern, local0, local1, local2, local3, local4, local5, local6, local7, lpr, mail, news, security, syslog, user, uucp for key 'facility' in <syslog>"},
		{"http-logger", runnerOnly + "<eventlog>\n  <http-logger>\n  </http-logger>\n</eventlog>\n", ErrConfig,
			"<http-logger> log handlers are not supported by zdkit; use <logfile> or <syslog> (line 5, in file:///etc/test.conf)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromNode(loadEventlog(t, zconfig.ZDaemonSchema, c.text))
			var ze *zconfig.Error
			if !errors.Is(err, c.is) || !errors.As(err, &ze) {
				t.Fatalf("got %v, want a *zconfig.Error wrapping %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not contain %q", err, c.msg)
			}
		})
	}
	if _, err := FromNode(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("FromNode(nil) = %v", err)
	}
}
