package zconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// The configuration files of the zdaemon fixture scenarios (captured from
// zdaemon 5.2.1), with their work directory replaced by a temporary one.
func TestZdaemonFixtureConfigs(t *testing.T) {
	type want struct {
		program   []string
		daemon    bool
		socket    string
		backoff   int
		forever   bool
		codes     []int
		umask     int
		directory string
		transcr   string
		logfile   string
		startTO   time.Duration
		stopTO    time.Duration
		testProg  []string
		env       map[string]string
		logLevel  int      // 0: no <eventlog>
		logPaths  []string // <logfile> paths
	}
	base := want{daemon: true, socket: "zdsock", backoff: 10, codes: []int{0, 2}, umask: 0o22,
		transcr: "/dev/null", startTO: 300 * time.Second, stopTO: 300 * time.Second}
	with := func(f func(w *want)) want { w := base; f(&w); return w }
	cases := map[string]want{
		"05-kill9-child-zd.conf": with(func(w *want) {
			w.program = []string{"sleep", "100"}
			w.logLevel, w.logPaths = 20, []string{"zdrun.log"}
		}),
		"06-crash-backoff-zd.conf": with(func(w *want) {
			w.program, w.backoff, w.transcr = []string{"./crash.sh"}, 4, "transcript.log"
			w.logLevel, w.logPaths = 20, []string{"zdrun.log"}
		}),
		"07-crash-backoff-forever-zd.conf": with(func(w *want) {
			w.program, w.backoff, w.forever, w.transcr, w.startTO = []string{"./crash.sh"}, 3, true, "transcript.log", 5*time.Second
			w.logLevel, w.logPaths = 20, []string{"zdrun.log"}
		}),
		"11-no-daemon-zd.conf":  with(func(w *want) { w.program, w.daemon = []string{"./p0.sh"}, false }),
		"11-no-daemon-zd2.conf": with(func(w *want) { w.program, w.daemon, w.socket = []string{"./p2.sh"}, false, "zd2.sock" }),
		"12-show-zd.conf": with(func(w *want) {
			w.program, w.socket, w.backoff, w.forever = []string{"sleep", "100"}, "run/zd.sock", 7, true
			w.codes, w.umask, w.directory, w.logfile, w.transcr = []int{0, 2, 9}, 0o27, "@HOME@", "zd.log", "tr.log"
			w.startTO, w.stopTO = 30*time.Second, 20*time.Second
		}),
		"15-config-runner-zd.conf": with(func(w *want) {
			w.program, w.socket, w.directory = []string{"@HOME@/env.sh"}, "@HOME@/sock/zd.sock", "@HOME@/rundir"
			w.umask, w.transcr = 0o27, "@HOME@/transcript.log"
			w.env = map[string]string{"FOO": "bar-from-config"}
			w.logLevel, w.logPaths = 10, []string{"@HOME@/zdrun.log"}
		}),
		"17-start-test-program-zd.conf": with(func(w *want) {
			w.program, w.testProg, w.startTO = []string{"./slowstart.sh"}, []string{"./test-ready.sh"}, 20*time.Second
		}),
		"17-start-test-program-zd2.conf": with(func(w *want) {
			w.program, w.testProg, w.startTO, w.socket = []string{"sleep", "100"}, []string{"false"}, 3*time.Second, "zd2.sock"
		}),
		"18-stop-timeout-zd.conf": with(func(w *want) {
			w.program, w.stopTO, w.transcr = []string{"./noterm.sh"}, 3*time.Second, "tr.log"
			w.logLevel, w.logPaths = 20, []string{"zdrun.log"}
		}),
	}
	entries, err := os.ReadDir("testdata/zdaemon")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(cases) {
		t.Errorf("%d fixture files, %d expectations", len(entries), len(cases))
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			conf := fromTemplate(t, filepath.Join("zdaemon", name), home, home)
			cfg, err := ZDaemonSchema.LoadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			sub := func(s string) string {
				if len(s) >= 6 && s[:6] == "@HOME@" {
					return home + s[6:]
				}
				return s
			}
			subAll := func(l []string) []string {
				var out []string
				for _, s := range l {
					out = append(out, sub(s))
				}
				return out
			}
			r := cfg.Section("runner")
			got := want{
				program: r.Strings("program"), daemon: r.Bool("daemon"), socket: r.String("socket-name"),
				backoff: r.Int("backoff-limit"), forever: r.Bool("forever"), codes: r.Ints("exit-codes"),
				umask: r.Int("umask"), directory: r.String("directory"), transcr: r.String("transcript"),
				logfile: r.String("logfile"), startTO: r.Duration("start-timeout"), stopTO: r.Duration("stop-timeout"),
				testProg: r.Strings("start-test-program"),
			}
			if env := cfg.Section("environment"); env != nil {
				got.env = env.Env()
			}
			if ev := cfg.Section("eventlog"); ev != nil {
				got.logLevel = ev.Int("level")
				for _, lf := range ev.Sections("logfile") {
					got.logPaths = append(got.logPaths, lf.String("path"))
				}
			}
			w.program, w.socket, w.directory, w.transcr = subAll(w.program), sub(w.socket), sub(w.directory), sub(w.transcr)
			w.logPaths = subAll(w.logPaths)
			if !reflect.DeepEqual(got, w) {
				t.Errorf("\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

// The combined zeo.conf of mkzeoinst's later layout serves both programs.
func TestCombinedZeoConf(t *testing.T) {
	home := instanceHome(t)
	conf := fromTemplate(t, "combined-zeo.conf", filepath.Join(home, "etc"), home)
	zd, err := ZDaemonSchema.LoadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	r := zd.Section("runner")
	if got := r.Strings("program"); !reflect.DeepEqual(got, []string{home + "/bin/runzeo"}) {
		t.Errorf("program %q", got)
	}
	if r.String("socket-name") != home+"/etc/zeo.zdsock" || r.String("directory") != home || r.String("zdrun") != home+"/bin/zdrun" {
		t.Errorf("runner paths wrong: %q %q %q", r.String("socket-name"), r.String("directory"), r.String("zdrun"))
	}
	// zdctl sees the top-level <eventlog> (runzeo's): zdrun would use it
	// unless <runner> has its own.
	if zd.Section("eventlog").Sections("logfile")[0].String("path") != home+"/log/zeo.log" {
		t.Error("eventlog not read")
	}
	if zd.Section("zeo") != nil || len(zd.Storages()) != 0 {
		t.Error("ignored sections show up in zdctl's tree")
	}

	z, err := ZEOSchema.LoadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if a := z.Section("zeo").Address("address"); a.Network != "tcp" || a.Host != "127.0.0.1" || a.Port != 8100 || a.String() != "127.0.0.1:8100" {
		t.Errorf("address %#v", a)
	}
	st := z.Storages()
	if len(st) != 1 || st[0].Name != "1" || st[0].Unnamed || st[0].String("path") != home+"/var/Data.fs" {
		t.Errorf("storages %+v", st)
	}
	if z.Section("runner") != nil {
		t.Error("runzeo's tree holds <runner>")
	}
}

func TestFullZeoConf(t *testing.T) {
	home := instanceHome(t)
	conf := fromTemplate(t, "full-zeo.conf", filepath.Join(home, "etc"), home)
	cfg, err := ZEOSchema.LoadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	z := cfg.Section("zeo")
	if a := z.Address("address"); a.Network != "unix" || a.Path != home+"/var/zeo.sock" || a.String() != a.Path {
		t.Errorf("address %#v", a)
	}
	checks := []struct{ got, want any }{
		{z.Bool("read-only"), false},
		{z.Int("invalidation-queue-size"), 5000},
		{z.Float("invalidation-age"), 3600.5},
		{z.Int("transaction-timeout"), 30},
		{z.Duration("transaction-timeout"), 30 * time.Second},
		{z.String("pid-filename"), home + "/var/ZEO.pid"},
		{z.Bool("client-conflict-resolution"), true},
		{z.Has("msgpack"), true},
		{z.Bool("msgpack"), true},
		{z.Address("monitor-address"), Address{Network: "tcp", Host: "127.0.0.1", Port: 8101, HasPort: true}},
		{z.Section("ssl").String("certificate"), home + "/etc/server.pem"},
		{z.Section("ssl").String("key"), home + "/etc/server.key"},
		{z.Section("ssl").String("authenticate"), home + "/etc/clients"},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("zeo check %d: got %#v, want %#v", i, c.got, c.want)
		}
	}
	st := cfg.Storages()
	if len(st) != 3 {
		t.Fatalf("%d storages", len(st))
	}
	main, arch, scratch := st[0], st[1], st[2]
	if main.Name != "main" || main.Type != "filestorage" || main.Bytes("quota") != 2<<30 || main.Bool("pack-gc") || !main.Bool("pack-keep-old") || main.String("blob-dir") != home+"/var/blobs" {
		t.Errorf("main storage wrong: %s %s %d", main.Name, main.Type, main.Bytes("quota"))
	}
	// Section types and names are case-insensitive, as in ZConfig.
	if arch.Name != "archive" || arch.Type != "filestorage" || !arch.Bool("read-only") || arch.Has("quota") {
		t.Errorf("archive storage wrong: %+v", arch)
	}
	if scratch.Type != "mappingstorage" || scratch.String("name") != "Scratch space" {
		t.Errorf("scratch storage wrong: %+v", scratch)
	}
	ev := cfg.Section("eventlog")
	if ev.Int("level") != 30 {
		t.Errorf("eventlog level %d", ev.Int("level"))
	}
	lfs := ev.Sections("logfile")
	if len(lfs) != 2 {
		t.Fatalf("%d logfiles", len(lfs))
	}
	if lfs[0].String("path") != "STDERR" || lfs[0].String("format") != "%(asctime)s %(message)s" || lfs[0].String("dateformat") != "%H:%M:%S" || lfs[0].Int("level") != 10 {
		t.Errorf("first logfile wrong")
	}
	if lfs[1].Name != "access" || lfs[1].Bytes("max-size") != 20<<20 || lfs[1].Int("old-files") != 5 || lfs[1].Int("level") != 0 || lfs[1].String("format") != DefaultLogFormat {
		t.Errorf("second logfile wrong")
	}
	_ = syscall.SIGTERM
}
