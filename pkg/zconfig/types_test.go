package zconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

// conv runs one datatype and returns its value or error text.
func conv(dt Datatype, s string) (any, string) {
	v, err := dt.Convert(s)
	if err != nil {
		return nil, err.Error()
	}
	return v, ""
}

func TestDatatypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		dt   Datatype
		in   string
		want any
		err  string
	}{
		{Boolean, "true", true, ""}, {Boolean, "YES", true, ""}, {Boolean, "On", true, ""},
		{Boolean, "false", false, ""}, {Boolean, "no", false, ""}, {Boolean, "OFF", false, ""},
		{Boolean, "1", nil, "not a valid boolean value: '1'"},
		{Boolean, "", nil, "not a valid boolean value: ''"},
		{Integer, "42", 42, ""}, {Integer, "-7", -7, ""}, {Integer, "1_000", 1000, ""}, {Integer, "+3", 3, ""},
		{Integer, "4.5", nil, "invalid literal for int() with base 10: '4.5'"},
		{Integer, "99999999999999999999", nil, "invalid literal for int() with base 10: '99999999999999999999'"},
		{Octal, "022", 0o22, ""}, {Octal, "0o27", 0o27, ""}, {Octal, "0O777", 0o777, ""}, {Octal, "7", 7, ""},
		{Octal, "8", nil, "invalid literal for int() with base 8: '8'"},
		{ByteSize, "20MB", int64(20 << 20), ""}, {ByteSize, "1KB", int64(1024), ""}, {ByteSize, "2GB", int64(2 << 30), ""},
		{ByteSize, "2gb", int64(2 << 30), ""}, {ByteSize, "512", int64(512), ""},
		{ByteSize, "1.5MB", nil, "invalid literal for int() with base 10: '1.5'"},
		{ByteSize, "MB", nil, "invalid literal for int() with base 10: ''"},
		{ByteSize, "99999999999GB", nil, "byte-size value out of range: '99999999999GB'"},
		{TimeInterval, "30", 30 * time.Second, ""}, {TimeInterval, "5s", 5 * time.Second, ""},
		{TimeInterval, "2m", 2 * time.Minute, ""}, {TimeInterval, "1h", time.Hour, ""},
		{TimeInterval, "1d", 24 * time.Hour, ""}, {TimeInterval, "1D", 24 * time.Hour, ""},
		{TimeInterval, "1w", nil, "invalid literal for int() with base 10: '1w'"},
		{TimeInterval, "999999999999d", nil, "time-interval value out of range: '999999999999d'"},
		{IntList, "0, 2", []int{0, 2}, ""}, {IntList, "0,2,9", []int{0, 2, 9}, ""}, {IntList, "", []int{}, ""},
		{IntList, "1,,2", nil, "invalid literal for int() with base 10: ''"},
		{StringList, "  runzeo  -C  /etc/zeo.conf ", []string{"runzeo", "-C", "/etc/zeo.conf"}, ""},
		{StringList, "", []string{}, ""},
		{Signal, "TERM", syscall.SIGTERM, ""}, {Signal, "sigusr2", syscall.SIGUSR2, ""}, {Signal, "SIGHUP", syscall.SIGHUP, ""},
		{Signal, "9", syscall.SIGKILL, ""}, {Signal, "cont", syscall.SIGCONT, ""},
		{Signal, "SIG_DFL", nil, "invalid signal 'SIG_DFL'"}, {Signal, "BOGUS", nil, "invalid signal 'BOGUS'"},
		{Signal, "0", nil, "invalid signal '0'"}, {Signal, "99", nil, "invalid signal '99'"},
		{PortNumber, "8100", 8100, ""}, {PortNumber, "65536", nil, "65536 is above upper bound (65535)"},
		{LoggingLevel, "info", 20, ""}, {LoggingLevel, "BLATHER", 15, ""}, {LoggingLevel, "trace", 5, ""},
		{LoggingLevel, "35", 35, ""}, {LoggingLevel, "51", nil, "log level not in range: 51"},
		{LogFormatStyle, "Format", "format", ""},
		{Float, "3600.5", 3600.5, ""}, {Float, "x", nil, "could not convert string to float: 'x'"},
		{ExistingDirectory, dir, dir, ""},
		{ExistingDirectory, file, nil, file + " is not an existing directory"},
		{ExistingDirectory, dir + "/new", nil, dir + "/new is not an existing directory"},
		// zdaemon's existing_parent_directory: the directory or its parent.
		{ExistingParentDirectory, dir + "/new", dir + "/new", ""},
		{ExistingParentDirectory, dir + "/new/sub", nil, dir + "/new/sub is not an existing directory"},
		{ExistingParentDirectory, "zdkit-no-such-dir", nil, "zdkit-no-such-dir is not an existing directory"},
		{ExistingParentDirectory, "testdata", "testdata", ""},
		{ExistingDirpath, dir + "/Data.fs", dir + "/Data.fs", ""},
		{ExistingDirpath, "Data.fs", "Data.fs", ""},
		{ExistingDirpath, dir + "/no/Data.fs", nil, "The directory named as part of the path " + dir + "/no/Data.fs does not exist."},
		// zdaemon's existing_parent_dirpath (socket-name): the grand-parent.
		{ExistingParentDirpath, dir + "/run/zd.sock", dir + "/run/zd.sock", ""},
		{ExistingParentDirpath, dir + "/a/b/zd.sock", nil, "The directory named as part of the path " + dir + "/a/b/zd.sock does not exist."},
		{ExistingParentDirpath, "run/zd.sock", "run/zd.sock", ""},
		{ExistingPath, file, file, ""},
		{ExistingPath, dir + "/nope", nil, dir + "/nope is not an existing path"},
	}
	for _, c := range cases {
		got, errText := conv(c.dt, c.in)
		if errText != c.err || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s(%q) = %#v, %q; want %#v, %q", c.dt.Name, c.in, got, errText, c.want, c.err)
		}
	}
}

func TestAddresses(t *testing.T) {
	cases := []struct {
		in   string
		want Address
		str  string
		err  string
	}{
		{"8100", Address{Network: "tcp", Port: 8100, HasPort: true}, ":8100", ""},
		{":8100", Address{Network: "tcp", Port: 8100, HasPort: true}, ":8100", ""},
		{"localhost:8100", Address{Network: "tcp", Host: "localhost", Port: 8100, HasPort: true}, "localhost:8100", ""},
		{"Example.COM:1", Address{Network: "tcp", Host: "example.com", Port: 1, HasPort: true}, "example.com:1", ""},
		{"[::1]:8100", Address{Network: "tcp6", Host: "::1", Port: 8100, HasPort: true}, "[::1]:8100", ""},
		{"127.0.0.1", Address{Network: "tcp", Host: "127.0.0.1"}, "127.0.0.1:0", ""},
		{"/var/run/zeo.sock", Address{Network: "unix", Path: "/var/run/zeo.sock"}, "/var/run/zeo.sock", ""},
		{"var/zeo.sock", Address{Network: "unix", Path: "var/zeo.sock"}, "var/zeo.sock", ""},
		{"host:99999", Address{}, "", "99999 is above upper bound (65535)"},
		{"70000", Address{}, "", "not a valid port number: '70000'"},
		{"two words", Address{}, "", "not a valid host name: 'two words'"},
	}
	for _, c := range cases {
		a, err := ParseAddress(c.in)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if errText != c.err || a != c.want || (err == nil && a.String() != c.str) {
			t.Errorf("ParseAddress(%q) = %#v (%q), %q; want %#v (%q), %q", c.in, a, a.String(), errText, c.want, c.str, c.err)
		}
	}
	// A client address with no host means the local machine.
	v, err := SocketConnectionAddress.Convert(":8100")
	if err != nil || v.(Address).String() != "127.0.0.1:8100" {
		t.Errorf("connection address = %v, %v", v, err)
	}
}

// The accessors convert between representations and never panic, even
// when asked for the wrong type or on a nil node.
func TestAccessors(t *testing.T) {
	path := writeConf(t, "<runner>\n program  a  b \n stop-timeout 7\n umask 077\n</runner>\n<eventlog>\n level warn\n</eventlog>\n")
	cfg, err := ZDaemonSchema.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Section("RUNNER")
	checks := []struct{ got, want any }{
		{r.Strings("program"), []string{"a", "b"}},
		{r.String("program"), "a  b"},
		{r.Duration("stop-timeout"), 7 * time.Second},
		{r.Float("stop-timeout"), 7.0},
		{r.Int("STOP-TIMEOUT"), 7},
		{r.Int("umask"), 0o77},
		{r.String("umask"), "077"},
		{r.Bool("program"), false},
		{r.Ints("program"), []int(nil)},
		{r.Address("program"), Address{}},
		{r.Signal("program"), syscall.Signal(0)},
		{r.Bytes("program"), int64(0)},
		{r.Int("no-such-key"), 0},
		{r.Has("no-such-key"), false},
		{cfg.Section("eventlog").Int("level"), 30},
		{cfg.Section("eventlog").String("level"), "warn"},
		{len(cfg.Sections()), 2},
		{len(cfg.Sections("runner", "eventlog")), 2},
		{len(cfg.Children()), 2},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("check %d: got %#v, want %#v", i, c.got, c.want)
		}
	}
	raw, ok := r.Raw("daemon")
	if raw != "on" || !ok {
		t.Errorf("Raw(daemon) = %q, %v (the default's text)", raw, ok)
	}
	v, ok := r.Value("stop-timeout")
	if !ok || v.Pos.Line != 3 || !strings.HasSuffix(v.Pos.File, "conf") || v.Default {
		t.Errorf("Value(stop-timeout) = %+v", v)
	}
	var nilNode *Node
	if nilNode.String("x") != "" || nilNode.Section("x") != nil || nilNode.Pairs() != nil || nilNode.Env() != nil ||
		nilNode.Has("x") || nilNode.Strings("x") != nil || nilNode.SectionType() != nil || len(nilNode.Storages()) != 0 {
		t.Error("nil node accessors misbehave")
	}
	if cfg.Section("environment").Env() != nil {
		t.Error("absent <environment> gives a map")
	}
}
