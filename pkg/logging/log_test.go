package logging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// openBuf opens a log writing to a buffer with the given handler settings
// and a pinned clock.
func openBuf(t *testing.T, level Level, hc HandlerConfig, now time.Time) (*Log, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	hc.Writer = &buf
	l, err := Open(Config{Level: level, Handlers: []HandlerConfig{hc}})
	if err != nil {
		t.Fatal(err)
	}
	l.now = func() time.Time { return now }
	t.Cleanup(func() { l.Close() })
	return l, &buf
}

// TestFixtureLogsByteForByte replays the zdrun.log files written by the
// real zdaemon 5.2.1 / ZConfig 4.3 (fixtures 05, 06, 15) through the
// default <logfile> format and compares every byte.
func TestFixtureLogsByteForByte(t *testing.T) {
	files, _ := filepath.Glob("testdata/zdrun-*.log")
	if len(files) != 3 {
		t.Fatalf("want 3 fixture logs, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			l, err := Open(Config{Level: LevelNotSet, Handlers: []HandlerConfig{{
				Writer: &buf, Format: DefaultFormat, DateFormat: DefaultDateFormat}}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var when time.Time
			l.now = func() time.Time { return when }
			sc := bufio.NewScanner(bytes.NewReader(want))
			n := 0
			for sc.Scan() {
				if sc.Text() != "------" {
					t.Fatalf("record %d does not start with ------: %q", n, sc.Text())
				}
				if !sc.Scan() {
					t.Fatal("truncated fixture")
				}
				parts := strings.SplitN(sc.Text(), " ", 4)
				when, err = time.ParseInLocation("2006-01-02T15:04:05", parts[0], time.Local)
				if err != nil {
					t.Fatal(err)
				}
				lv, err := ParseLevel(parts[1])
				if err != nil {
					t.Fatal(err)
				}
				l.Logger(parts[2]).Log(lv, parts[3])
				n++
			}
			if n < 8 {
				t.Fatalf("only %d records in %s", n, f)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("output differs from the Python log:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestLevelsFilter(t *testing.T) {
	now := time.Date(2026, 11, 25, 6, 16, 4, 0, time.Local)
	l, buf := openBuf(t, LevelInfo, HandlerConfig{Format: "%(levelname)s:%(levelno)d:%(message)s", Level: LevelBlather}, now)
	g := l.Logger("zdrun")
	g.Tracef("trace %d", 1)
	g.Debugf("debug %d", 1)
	g.Blatherf("blather %d", 1)
	g.Infof("info %d", 1)
	g.Warningf("warn %s", "x")
	g.Errorf("error")
	g.Criticalf("restarting too frequently; quit")
	g.Log(Level(25), "between")
	g.Log(Level(19), "below info")
	want := "INFO:20:info 1\nWARNING:30:warn x\nERROR:40:error\nCRITICAL:50:restarting too frequently; quit\nLevel 25:25:between\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if l.Enabled(LevelBlather) || !l.Enabled(LevelInfo) || !g.Enabled(LevelCritical) {
		t.Error("Enabled disagrees with the root level")
	}

	// A handler level above the root level filters on its own.
	l2, buf2 := openBuf(t, LevelDebug, HandlerConfig{Format: "%(levelname)s %(message)s", Level: LevelWarning}, now)
	l2.Logger("x").Infof("dropped")
	l2.Logger("x").Warningf("kept")
	if got := buf2.String(); got != "WARNING kept\n" {
		t.Errorf("handler level: got %q", got)
	}
}

func TestMultipleHandlersOwnFormats(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	l, err := Open(Config{Level: LevelDebug, Handlers: []HandlerConfig{
		{Path: p1, Format: DefaultFormat, DateFormat: DefaultDateFormat},
		{Path: p2, Format: "%(name)s|%(levelname)-8s|%(message)s", Level: LevelWarning},
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.Local)
	l.now = func() time.Time { return now }
	l.Logger("ZEO.StorageServer").Infof("StorageServer created RW with storages: %s", "1:RW:/x/Data.fs")
	l.Logger("ZEO.runzeo").Warningf("received SIGUSR2, but it was not handled!")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got1, _ := os.ReadFile(p1)
	want1 := "------\n2026-01-02T03:04:05 INFO ZEO.StorageServer StorageServer created RW with storages: 1:RW:/x/Data.fs\n" +
		"------\n2026-01-02T03:04:05 WARNING ZEO.runzeo received SIGUSR2, but it was not handled!\n"
	if string(got1) != want1 {
		t.Errorf("a.log:\n got %q\nwant %q", got1, want1)
	}
	got2, _ := os.ReadFile(p2)
	if want2 := "ZEO.runzeo|WARNING |received SIGUSR2, but it was not handled!\n"; string(got2) != want2 {
		t.Errorf("b.log: got %q want %q", got2, want2)
	}
	if ps := l.Paths(); len(ps) != 2 || ps[0] != p1 || ps[1] != p2 {
		t.Errorf("Paths() = %v", ps)
	}
}

func TestFileAppendsAndRelativePathIsAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("z.log", []byte("old line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: "z.log", Format: "%(message)s"}}})
	if err != nil {
		t.Fatal(err)
	}
	if ps := l.Paths(); len(ps) != 1 || ps[0] != filepath.Join(dir, "z.log") {
		t.Fatalf("Paths() = %v, want the absolute path", ps)
	}
	// logging.FileHandler keeps os.path.abspath(filename): a chdir
	// (zdrun's "directory") must not move the file on Reopen.
	t.Chdir(t.TempDir())
	l.Logger(RootName).Infof("first")
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Logger(RootName).Infof("second")
	l.Close()
	got, _ := os.ReadFile(filepath.Join(dir, "z.log"))
	if string(got) != "old line\nfirst\nsecond\n" {
		t.Errorf("got %q", got)
	}
	if _, err := os.Stat("z.log"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Reopen created z.log in the new working directory: %v", err)
	}
}

func TestZerologEventsAndExtraFields(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	l, buf := openBuf(t, LevelDebug, HandlerConfig{Format: "%(levelname)s %(name)s %(message)s"}, now)
	z := l.Zerolog("ZEO.asyncio.server")
	z.Info().Str("addr", "127.0.0.1:9999").Int("n", 3).Msg("listening")
	z.Warn().Err(errors.New("boom")).Msg("oops")
	z.Debug().Msg("dbg")
	z.Trace().Msg("dropped below DEBUG")
	z.Error().Msg("quoted \"text\"\tand tab")
	want := "INFO ZEO.asyncio.server listening addr=127.0.0.1:9999 n=3\n" +
		"WARNING ZEO.asyncio.server oops error=boom\n" +
		"DEBUG ZEO.asyncio.server dbg\n" +
		"ERROR ZEO.asyncio.server quoted \"text\"\tand tab\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestCallerFields(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	l, buf := openBuf(t, LevelDebug, HandlerConfig{Format: "%(filename)s:%(funcName)s:%(module)s %(message)s"}, now)
	l.Logger("x").Infof("here")
	l.Logger("x").Log(LevelInfo, "there")
	want := "log_test.go:TestCallerFields:log_test here\nlog_test.go:TestCallerFields:log_test there\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestNoHandlersIsLastResort(t *testing.T) {
	l, err := Open(Config{Level: LevelDebug})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Enabled(LevelInfo) || !l.Enabled(LevelWarning) {
		t.Error("without handlers only WARNING and above should be written (logging.lastResort)")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(Config{Handlers: []HandlerConfig{{Path: filepath.Join(dir, "no", "such", "x.log")}}})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "x.log") {
		t.Errorf("missing directory: %v", err)
	}
	_, err = Open(Config{Handlers: []HandlerConfig{{Path: filepath.Join(dir, "x.log"), Format: "%(nosuch)s"}}})
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `unknown LogRecord attribute "nosuch"`) {
		t.Errorf("bad format: %v", err)
	}
	_, err = Open(Config{Handlers: []HandlerConfig{{}}})
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "needs a path") {
		t.Errorf("empty path: %v", err)
	}
}

func TestCloseThenReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.log")
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: p}}})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger("x").Infof("before")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Logger("x").Infof("after close")
	if err := l.Reopen(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reopen after Close = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "before\n" {
		t.Errorf("got %q", got)
	}
}

func TestReopenFailureKeepsOldFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "r.log")
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: p}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	err = l.Reopen()
	if err == nil || !strings.Contains(err.Error(), p) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reopen with the directory gone = %v", err)
	}
	l.Logger("x").Infof("still logged")
	got, _ := os.ReadFile(filepath.Join(moved, "r.log"))
	if string(got) != "still logged\n" {
		t.Errorf("old descriptor not kept: %q", got)
	}
}

// TestReopenLosesNoLine rotates the file the way logrotate does (rename,
// then Reopen) many times while goroutines log, then counts every record
// across all the files: each must appear exactly once, whole.
func TestReopenLosesNoLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "zeo.log")
	l, err := Open(Config{Level: LevelInfo, Handlers: []HandlerConfig{{Path: p, Format: DefaultFormat, DateFormat: DefaultDateFormat}}})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter, rotations = 8, 400, 25
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := l.Logger(fmt.Sprintf("w%d", w))
			for i := 0; i < perWriter; i++ {
				g.Infof("record %d-%d", w, i)
			}
		}()
	}
	rotated := make(chan int)
	go func() {
		n := 0
		defer func() { rotated <- n }()
		for ; n < rotations; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := os.Rename(p, fmt.Sprintf("%s.%d", p, n)); err != nil {
				t.Error(err)
				return
			}
			if err := l.Reopen(); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	n := <-rotated
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no rotation happened while logging")
	}
	files, _ := filepath.Glob(p + "*")
	if len(files) != n+1 {
		t.Errorf("%d files after %d rotations", len(files), n)
	}
	seen := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(data) == 0 {
			continue
		}
		if len(lines)%2 != 0 {
			t.Fatalf("%s: odd number of lines (%d): a record was cut", f, len(lines))
		}
		for i := 0; i < len(lines); i += 2 {
			if lines[i] != "------" {
				t.Fatalf("%s line %d: %q, want ------", f, i+1, lines[i])
			}
			f := strings.SplitN(lines[i+1], " ", 4)
			if len(f) != 4 || f[1] != "INFO" || !strings.HasPrefix(f[3], "record ") {
				t.Fatalf("bad record line %q", lines[i+1])
			}
			seen[f[2]+" "+f[3]]++
		}
	}
	if len(seen) != writers*perWriter {
		t.Errorf("%d distinct records, want %d", len(seen), writers*perWriter)
	}
	for k, c := range seen {
		if c != 1 {
			t.Errorf("%s written %d times", k, c)
		}
	}
}

func BenchmarkInfofDefaultFormat(b *testing.B) {
	l, err := Open(Config{Level: LevelInfo, Handlers: []HandlerConfig{{Path: filepath.Join(b.TempDir(), "b.log"), Format: DefaultFormat, DateFormat: DefaultDateFormat}}})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := l.Logger("ZEO.StorageServer")
	b.ReportAllocs()
	for b.Loop() {
		g.Infof("(%s) disconnected", "lbl1 127.0.0.1:41705")
	}
}

func BenchmarkFilteredOut(b *testing.B) {
	l, err := Open(Config{Level: LevelInfo, Handlers: []HandlerConfig{{Writer: &bytes.Buffer{}}}})
	if err != nil {
		b.Fatal(err)
	}
	g := l.Logger("x")
	b.ReportAllocs()
	for b.Loop() {
		g.Debugf("not written %d", 1)
	}
}
