package zconfig

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestMkzeoinstZeoctlConf(t *testing.T) {
	home := instanceHome(t)
	conf := fromTemplate(t, "mkzeoinst-zeoctl.conf", filepath.Join(home, "etc"), home)
	cfg, err := ZDaemonSchema.LoadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Section("runner")
	if r == nil {
		t.Fatal("no <runner>")
	}
	if got, want := r.Strings("program"), []string{home + "/bin/runzeo", "-C", home + "/etc/zeo.conf"}; !reflect.DeepEqual(got, want) {
		t.Errorf("program = %q, want %q", got, want)
	}
	checks := []struct {
		got, want any
	}{
		{r.String("socket-name"), home + "/etc/zeo.zdsock"},
		{r.Bool("daemon"), true},
		{r.Bool("forever"), false},
		{r.Int("backoff-limit"), 10},
		{r.Duration("backoff-limit"), 10 * time.Second},
		{r.Ints("exit-codes"), []int{0, 2}},
		{r.String("directory"), home},
		{r.Bool("default-to-interactive"), true},
		{r.String("python"), "/usr/bin/python3"},
		{r.String("zdrun"), home + "/bin/zdrun"},
		{r.String("logfile"), home + "/log/zeo.log"},
		{r.String("user"), ""},
		{r.Int("umask"), 0o22},
		{r.String("transcript"), "/dev/null"},
		{r.Int("start-timeout"), 300},
		{r.Int("stop-timeout"), 300},
		{r.Duration("stop-timeout"), 300 * time.Second},
		{r.Has("stop-timeout"), false},
		{r.Has("backoff-limit"), true},
		{r.Bool("hang-around"), false},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("check %d: got %#v, want %#v", i, c.got, c.want)
		}
	}
	ev := cfg.Section("eventlog")
	if ev == nil || ev.Int("level") != 20 || ev.String("level") != "info" {
		t.Fatalf("eventlog level wrong: %v", ev)
	}
	lf := ev.Sections("logfile")
	if len(lf) != 1 || lf[0].String("path") != home+"/log/zeoctl.log" {
		t.Fatalf("logfiles = %v", lf)
	}
	if got := lf[0].String("format"); got != DefaultLogFormat {
		t.Errorf("format default = %q", got)
	}
	if got := lf[0].String("dateformat"); got != "%Y-%m-%dT%H:%M:%S" {
		t.Errorf("dateformat default = %q", got)
	}
}

func TestMkzeoinstZeoConf(t *testing.T) {
	home := instanceHome(t)
	conf := fromTemplate(t, "mkzeoinst-zeo.conf", filepath.Join(home, "etc"), home)
	cfg, err := ZEOSchema.LoadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	z := cfg.Section("zeo")
	if a := z.Address("address"); a != (Address{Network: "tcp", Port: 9999, HasPort: true}) {
		t.Errorf("address = %#v", a)
	}
	if z.Bool("read-only") || z.Int("invalidation-queue-size") != 100 || z.Has("transaction-timeout") {
		t.Errorf("zeo keys wrong")
	}
	st := cfg.Storages()
	if len(st) != 1 || st[0].Type != "filestorage" || st[0].Name != "1" || st[0].String("path") != home+"/var/Data.fs" {
		t.Fatalf("storages = %#v", st)
	}
	if !st[0].Bool("pack-gc") || st[0].Bool("create") {
		t.Errorf("filestorage defaults wrong")
	}
	// The same file is not a zdaemon configuration: no <runner>.
	_, err = ZDaemonSchema.LoadFile(conf)
	wantErr(t, err, ErrMissing, "no values for section type 'runner'; 1 required (in PATH)", conf)
}

func TestOverrides(t *testing.T) {
	conf := writeConf(t, "<runner>\n program sleep 100\n backoff-limit 3\n <eventlog>\n  <logfile>\n   path STDOUT\n  </logfile>\n </eventlog>\n</runner>\n<environment>\n Foo bar\n</environment>\n")
	cfg, err := ZDaemonSchema.LoadFile(conf,
		"runner/backoff-limit=5", "runner/program=cat -", "runner/eventlog/level=debug",
		"environment/Foo=baz", "runner/stop-timeout=7")
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Section("runner")
	if r.Int("backoff-limit") != 5 || !reflect.DeepEqual(r.Strings("program"), []string{"cat", "-"}) || r.Int("stop-timeout") != 7 || !r.Has("stop-timeout") {
		t.Errorf("overrides not applied: %v %v %v", r.Int("backoff-limit"), r.Strings("program"), r.Int("stop-timeout"))
	}
	if got := r.Section("eventlog").String("level"); got != "debug" {
		t.Errorf("runner/eventlog/level = %q", got)
	}
	if got := cfg.Section("environment").Env(); !reflect.DeepEqual(got, map[string]string{"Foo": "baz"}) {
		t.Errorf("environment = %v", got)
	}
}

// Each program skips the other's top-level sections, but only there.
func TestIgnoredSections(t *testing.T) {
	conf := writeConf(t, "<runner>\n program x\n</runner>\n<zeo>\n address 1\n anything goes\n</zeo>\n<mappingstorage/>\n<environment>\n A b\n</environment>\n")
	if _, err := ZDaemonSchema.LoadFile(conf); err != nil {
		t.Errorf("zdaemon: %v", err)
	}
	conf = writeConf(t, "<zeo>\n address 1\n</zeo>\n<mappingstorage/>\n<runner>\n bogus 1\n</runner>\n<environment>\n A b\n</environment>\n")
	if _, err := ZEOSchema.LoadFile(conf); err != nil {
		t.Errorf("zeo: %v", err)
	}
	conf = writeConf(t, "<runner>\n program x\n <zeo>\n </zeo>\n</runner>\n")
	_, err := ZDaemonSchema.LoadFile(conf)
	wantErr(t, err, ErrUnknownSection, "unknown type name: 'zeo'\n(line 3 in PATH)", conf)
}
