package zconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each error kind, with the exact message. Where ZConfig 4.3 reports the
// same input, the message is its text (checked against the real Python
// ZConfig with zdaemon's and ZEO's schemas, interop findings 28/29), or
// starts with it when we add the key's section: data conversion errors
// "msg (line N, in file:///...)", syntax errors "msg\n(line N in
// file:///...)" at the line ZConfig reports (the last line read for an
// unclosed section, the end tag where a section's contents are checked),
// and bare messages for the top level and empty <type/> sections.
func TestErrorMessages(t *testing.T) {
	cases := []struct {
		name      string
		schema    *Schema
		text      string
		overrides []string
		kind      error
		msg       string // PATH stands for the file's path
		key, val  string // Error.Key and Error.Value
	}{
		{"unknown key", ZDaemonSchema, "<runner>\n program x\n bogus-key 1\n</runner>\n", nil, ErrUnknownKey,
			"'bogus-key' is not a known key name (line 3, in PATH) in <runner>", "bogus-key", "1"},
		{"unknown key at top", ZDaemonSchema, "<runner>\n program x\n</runner>\ndaemon on\n", nil, ErrUnknownKey,
			"'daemon' is not a known key name (line 4, in PATH)", "daemon", "on"},
		{"unknown section", ZDaemonSchema, "<runner>\n program x\n</runner>\n<bogus>\n</bogus>\n", nil, ErrUnknownSection,
			"unknown type name: 'bogus'\n(line 4 in PATH)", "bogus", ""},
		{"section in wrong place", ZDaemonSchema, "<runner>\n program x\n <logfile>\n  path STDOUT\n </logfile>\n</runner>\n", nil, ErrUnknownSection,
			"no matching section defined for type='logfile', name='None'\n(line 3 in PATH)", "logfile", ""},
		{"missing section", ZDaemonSchema, "<environment>\n</environment>\n", nil, ErrMissing,
			"no values for section type 'runner'; 1 required (in PATH)", "runner", ""},
		{"missing key", ZDaemonSchema, "<runner>\n daemon off\n</runner>\n", nil, ErrMissing,
			"no values for 'program'; 1 required\n(line 3 in PATH)", "program", ""},
		{"missing key in subsection", ZDaemonSchema, "<runner>\n program x\n</runner>\n<eventlog>\n <logfile>\n  level debug\n </logfile>\n</eventlog>\n", nil, ErrMissing,
			"no values for 'path'; 1 required\n(line 7 in PATH)", "path", ""},
		{"missing storage", ZEOSchema, "<zeo>\n address 8100\n</zeo>\n", nil, ErrMissing,
			"not enough values for section type 'zodb.storage'; 0 found, 1 required (in PATH)", "ZODB.storage", ""},
		{"wrong type boolean", ZDaemonSchema, "<runner>\n program x\n daemon maybe\n</runner>\n", nil, ErrBadValue,
			"not a valid boolean value: 'maybe' (line 3, in PATH) for key 'daemon' in <runner>", "daemon", "maybe"},
		{"wrong type integer", ZDaemonSchema, "<runner>\n program x\n backoff-limit ten\n</runner>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: 'ten' (line 3, in PATH) for key 'backoff-limit' in <runner>", "backoff-limit", "ten"},
		{"wrong type octal", ZDaemonSchema, "<runner>\n program x\n umask 089\n</runner>\n", nil, ErrBadValue,
			"invalid literal for int() with base 8: '089' (line 3, in PATH) for key 'umask' in <runner>", "umask", "089"},
		{"wrong type int list", ZDaemonSchema, "<runner>\n program x\n exit-codes 0, two\n</runner>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: ' two' (line 3, in PATH) for key 'exit-codes' in <runner>", "exit-codes", "0, two"},
		{"wrong type address", ZEOSchema, "<zeo>\n address localhost:http\n</zeo>\n<mappingstorage/>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: 'http' (line 2, in PATH) for key 'address' in <zeo>", "address", "localhost:http"},
		{"wrong type byte-size", ZEOSchema, "<zeo>\n address 8100\n</zeo>\n<filestorage>\n path Data.fs\n quota 10TB\n</filestorage>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: '10tb' (line 6, in PATH) for key 'quota' in <filestorage>", "quota", "10TB"},
		{"wrong type level", ZDaemonSchema, "<runner>\n program x\n</runner>\n<eventlog>\n level loud\n</eventlog>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: 'loud' (line 5, in PATH) for key 'level' in <eventlog>", "level", "loud"},
		{"missing parent directory", ZDaemonSchema, "<runner>\n program x\n socket-name /nonexistent-zdkit/run/zd.sock\n</runner>\n", nil, ErrBadValue,
			"The directory named as part of the path /nonexistent-zdkit/run/zd.sock does not exist. (line 3, in PATH) for key 'socket-name' in <runner>", "socket-name", "/nonexistent-zdkit/run/zd.sock"},
		{"duplicate key", ZDaemonSchema, "<runner>\n program x\n daemon on\n daemon off\n</runner>\n", nil, ErrDuplicate,
			"'daemon' does not support multiple values (line 4, in PATH) in <runner>; value 'off', first given as 'on' (line 3, in PATH)", "daemon", "off"},
		{"duplicate section", ZDaemonSchema, "<runner>\n program x\n</runner>\n<runner>\n program y\n</runner>\n", nil, ErrDuplicate,
			"too many instances of 'runner' section\n(line 6 in PATH)", "runner", ""},
		{"duplicate section name", ZEOSchema, "<zeo>\n address 1\n</zeo>\n<filestorage main>\n path a\n</filestorage>\n<mappingstorage MAIN/>\n", nil, ErrDuplicate,
			"section names must not be re-used within the same container:'main'", "main", ""},
		{"exit code not a number", ZDaemonSchema, "<runner>\n program x\n exit-codes 1,x\n</runner>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: 'x' (line 3, in PATH) for key 'exit-codes' in <runner>", "exit-codes", "1,x"},
		{"port not a number", ZEOSchema, "<zeo>\n address nohost:xx\n</zeo>\n<mappingstorage/>\n", nil, ErrBadValue,
			"invalid literal for int() with base 10: 'xx' (line 2, in PATH) for key 'address' in <zeo>", "address", "nohost:xx"},
		{"port out of range", ZEOSchema, "<zeo>\n address nohost:70000\n</zeo>\n<mappingstorage/>\n", nil, ErrBadValue,
			"70000 is above upper bound (65535) (line 2, in PATH) for key 'address' in <zeo>", "address", "nohost:70000"},
		{"re-used storage name", ZEOSchema, "<zeo>\n address 1\n</zeo>\n<filestorage 1>\n path a\n</filestorage>\n<filestorage 1>\n path b\n</filestorage>\n", nil, ErrDuplicate,
			"section names must not be re-used within the same container:'1'\n(line 9 in PATH)", "1", ""},
		{"missing key in empty section", ZDaemonSchema, "<runner>\n program x\n</runner>\n<eventlog>\n <logfile/>\n</eventlog>\n", nil, ErrMissing,
			"no values for 'path'; 1 required (line 5, in PATH) in <logfile>", "path", ""},
		{"two eventlogs", ZDaemonSchema, "<runner>\n program x\n</runner>\n<eventlog>\n</eventlog>\n<eventlog>\n</eventlog>\n", nil, ErrDuplicate,
			"too many instances of 'eventlog' section\n(line 7 in PATH)", "eventlog", ""},
		{"two unnamed storages", ZEOSchema, "<zeo>\n address 1\n</zeo>\n<mappingstorage/>\n<mappingstorage/>\n", nil, ErrDuplicate,
			"No more than one storage may be unnamed. (line 5, in PATH)", "mappingstorage", ""},
		{"unnamed storage and 1", ZEOSchema, "<zeo>\n address 1\n</zeo>\n<mappingstorage/>\n<mappingstorage 1/>\n", nil, ErrDuplicate,
			"Can't have an unnamed storage and a storage named 1. (line 4, in PATH)", "mappingstorage", ""},
		{"unterminated section", ZDaemonSchema, "<runner>\n program x\n<eventlog>\n</eventlog>\n", nil, ErrUnterminated,
			"unclosed sections not allowed\n(line 4 in PATH)", "runner", ""},
		{"unbalanced end", ZDaemonSchema, "<runner>\n program x\n</eventlog>\n", nil, ErrSyntax,
			"unbalanced section end\n(line 3 in PATH)", "runner", "</eventlog>"},
		{"unexpected end", ZDaemonSchema, "</runner>\n", nil, ErrSyntax,
			"unexpected section end\n(line 1 in PATH)", "", ""},
		{"malformed start", ZDaemonSchema, "<runner\n", nil, ErrSyntax,
			"malformed section start\n(line 1 in PATH)", "", ""},
		{"malformed header", ZDaemonSchema, "<runner a b>\n</runner>\n", nil, ErrSyntax,
			"malformed section header\n(line 1 in PATH)", "", ""},
		{"malformed data", ZDaemonSchema, "(x) y\n", nil, ErrSyntax,
			"malformed configuration data\n(line 1 in PATH)", "", "(x) y"},
		{"unknown directive", ZDaemonSchema, "%foo bar\n", nil, ErrSyntax,
			"unknown directive: 'foo'\n(line 1 in PATH)", "", ""},
		{"directive without argument", ZDaemonSchema, "%include\n", nil, ErrSyntax,
			"missing argument to %include directive\n(line 1 in PATH)", "", ""},
		{"bad define name", ZDaemonSchema, "%define 1x y\n", nil, ErrSyntax,
			"not a substitution legal name: '1x'\n(line 1 in PATH)", "", ""},
		{"redefine", ZDaemonSchema, "%define a b\n%define A c\n", nil, ErrSyntax,
			"cannot redefine 'a'\n(line 2 in PATH)", "a", "c"},
		{"undefined name", ZDaemonSchema, "<runner>\n program $prog -v\n</runner>\n", nil, ErrSubstitution,
			"no replacement for 'prog'\n(line 2 in PATH)", "program", "$prog -v"},
		{"unset environment variable", ZDaemonSchema, "<runner>\n program $(ZDKIT_UNSET_VAR)\n</runner>\n", nil, ErrSubstitution,
			"no replacement for 'ZDKIT_UNSET_VAR'\n(line 2 in PATH)", "program", "$(ZDKIT_UNSET_VAR)"},
		{"unclosed brace", ZDaemonSchema, "<runner>\n program ${prog\n</runner>\n", nil, ErrSubstitution,
			"'${prog' not followed by '}' (line 2, in PATH) in value of key 'program': '${prog'", "program", "${prog"},
		{"lone dollar", ZDaemonSchema, "<runner>\n program cost 5$\n</runner>\n", nil, ErrSubstitution,
			"illegal lone '$' at end of source (line 2, in PATH) in value of key 'program': 'cost 5$'", "program", "cost 5$"},
		{"dollar digit", ZDaemonSchema, "<runner>\n program $1\n</runner>\n", nil, ErrSubstitution,
			"'$' not followed by '$' or name (line 2, in PATH) in value of key 'program': '$1'", "program", "$1"},
		{"missing include", ZDaemonSchema, "%include /nonexistent-zdkit/x.conf\n", nil, ErrInclude,
			"error opening file /nonexistent-zdkit/x.conf: [Errno 2] No such file or directory: '/nonexistent-zdkit/x.conf' (line 1, in PATH)", "", "/nonexistent-zdkit/x.conf"},
		{"obsolete auth key", ZEOSchema, "<zeo>\n address 8100\n authentication-protocol digest\n</zeo>\n<mappingstorage/>\n", nil, ErrUnknownKey,
			"'authentication-protocol' is no longer supported: ZEO 3 digest authentication was removed in ZEO 5 and is not offered; use an <ssl> section in <zeo> with certificate, key and authenticate (client certificates) instead (line 3, in PATH) in <zeo>", "authentication-protocol", "digest"},
		{"ssl without authenticate", ZEOSchema, "<zeo>\n address 8100\n <ssl>\n  certificate cert.pem\n </ssl>\n</zeo>\n<mappingstorage/>\n", nil, ErrMissing,
			"no values for 'authenticate'; 1 required\n(line 5 in PATH)", "authenticate", ""},
		{"override wrong type", ZDaemonSchema, "<runner>\n program x\n</runner>\n", []string{"runner/daemon=maybe"}, ErrBadValue,
			"not a valid boolean value: 'maybe' (in -X runner/daemon=maybe) for key 'daemon' in <runner>", "daemon", "maybe"},
		{"override unknown key", ZDaemonSchema, "<runner>\n program x\n</runner>\n", []string{"runner/nokey=1"}, ErrUnknownKey,
			"'nokey' is not a known key name (in -X runner/nokey=1) in <runner>", "nokey", "1"},
		{"override without =", ZDaemonSchema, "<runner>\n program x\n</runner>\n", []string{"runner/daemon"}, ErrOverride,
			"invalid configuration specifier (in -X runner/daemon) (expected section/key=value)", "", "runner/daemon"},
		{"override with //", ZDaemonSchema, "<runner>\n program x\n</runner>\n", []string{"runner//daemon=on"}, ErrOverride,
			"'//' is not allowed in an option path (in -X runner//daemon=on)", "", "runner//daemon=on"},
		{"override not consumed", ZDaemonSchema, "<runner>\n program x\n</runner>\n", []string{"eventlog/level=debug"}, ErrOverride,
			"not all command line options were consumed (in -X eventlog/level=debug) (no section of the configuration has this path)", "", "eventlog/level=debug"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConf(t, c.text)
			_, err := c.schema.LoadFile(path, c.overrides...)
			wantErr(t, err, c.kind, c.msg, path)
			var ze *Error
			if !errors.As(err, &ze) {
				t.Fatalf("%T is not *Error", err)
			}
			if ze.Key != c.key || ze.Value != c.val {
				t.Errorf("Key, Value = %q, %q; want %q, %q", ze.Key, ze.Value, c.key, c.val)
			}
		})
	}
}

func TestIncludeErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.conf", "<runner>\n program x\n</runner>\n%include b.conf\n")
	b := write("b.conf", "# b includes a\n%include a.conf\n")
	_, err := ZDaemonSchema.LoadFile(a)
	wantErr(t, err, ErrInclude, "%include cycle: "+a+" -> "+b+" -> "+a+" (line 2, in file://"+b+")", a)

	self := write("self.conf", "%include self.conf\n")
	_, err = ZDaemonSchema.LoadFile(self)
	wantErr(t, err, ErrInclude, "%include cycle: "+self+" -> "+self+" (line 1, in PATH)", self)

	// The error of an included file names that file and its line.
	write("bad.conf", "\n\n daemon maybe\n")
	main := write("main.conf", "<runner>\n program x\n %include bad.conf\n</runner>\n")
	_, err = ZDaemonSchema.LoadFile(main)
	wantErr(t, err, ErrBadValue, "not a valid boolean value: 'maybe' (line 3, in file://"+filepath.Join(dir, "bad.conf")+") for key 'daemon' in <runner>", main)

	// A relative %include names the absolute path it resolved to, in
	// both places, as ZConfig does (interop finding 28).
	rel := write("rel.conf", "%include nonexistent.conf\n")
	abs := filepath.Join(dir, "nonexistent.conf")
	_, err = ZDaemonSchema.LoadFile(rel)
	wantErr(t, err, ErrInclude, "error opening file "+abs+": [Errno 2] No such file or directory: '"+abs+"' (line 1, in PATH)", rel)

	// The main file itself missing.
	missing := filepath.Join(dir, "missing.conf")
	_, err = ZDaemonSchema.LoadFile(missing)
	wantErr(t, err, ErrInclude, "error opening file "+missing+": [Errno 2] No such file or directory: '"+missing+"'", missing)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not wrap fs.ErrNotExist", err)
	}

	// A directory, or a device, is not a configuration file.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	inc := write("incdir.conf", "%include sub\n")
	_, err = ZDaemonSchema.LoadFile(inc)
	wantErr(t, err, ErrInclude, "error opening file "+sub+": not a regular file: '"+sub+"' (line 1, in PATH)", inc)
}

// errors.Is works through wrapping by callers.
func TestErrorWrapping(t *testing.T) {
	path := writeConf(t, "<runner>\n program x\n forever perhaps\n</runner>\n")
	_, err := ZDaemonSchema.LoadFile(path)
	wrapped := errors.Join(errors.New("zdctl"), err)
	if !errors.Is(wrapped, ErrBadValue) || errors.Is(wrapped, ErrSyntax) {
		t.Errorf("errors.Is through wrapping broken: %v", wrapped)
	}
	if !strings.HasPrefix(err.Error(), "not a valid boolean value: 'perhaps' (line 3, in file://") {
		t.Errorf("message %q", err)
	}
}
