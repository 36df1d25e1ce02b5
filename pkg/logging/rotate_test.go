package logging

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// readRotated returns the contents of path and of path.1 ... path.n that
// exist, newest last (path.n is the oldest).
func readRotated(t *testing.T, path string, n int) []string {
	t.Helper()
	var out []string
	for i := n; i >= 1; i-- {
		if b, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i)); err == nil {
			out = append(out, string(b))
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, string(b))
}

// TestSizeRotationLosesNoLine: eight goroutines log while the file
// rotates by size; every record is in exactly one file, whole, and no
// file grew to max-size.
func TestSizeRotationLosesNoLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "zeo.log")
	const maxSize, writers, perWriter = 4096, 8, 300
	l, err := Open(Config{Level: LevelInfo, Handlers: []HandlerConfig{{
		Path: p, Format: DefaultFormat, DateFormat: DefaultDateFormat,
		Rotation: Rotation{MaxSize: maxSize, OldFiles: 1000},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
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
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := readRotated(t, p, 1000)
	if len(files) < 10 {
		t.Fatalf("%d files after %d records of ~60 bytes with max-size %d", len(files), writers*perWriter, maxSize)
	}
	seen := map[string]int{}
	for i, f := range files {
		if len(f) >= maxSize {
			t.Errorf("file %d of %d has %d bytes, max-size is %d", i, len(files), len(f), maxSize)
		}
		for _, rec := range strings.Split(strings.TrimPrefix(f, "------\n"), "------\n") {
			if rec == "" {
				continue
			}
			i := strings.Index(rec, " record ")
			if i < 0 || !strings.HasSuffix(rec, "\n") {
				t.Fatalf("cut record %q", rec)
			}
			seen[strings.TrimSuffix(rec[i+8:], "\n")]++
		}
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < perWriter; i++ {
			if n := seen[fmt.Sprintf("%d-%d", w, i)]; n != 1 {
				t.Fatalf("record %d-%d found %d times", w, i, n)
			}
		}
	}
}

// TestSizeRotationKeepsOldFiles: old-files 2 keeps zeo.log.1 and .2, the
// oldest records are gone, the newest are in zeo.log.
func TestSizeRotationKeepsOldFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "zeo.log")
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: p, Rotation: Rotation{MaxSize: 100, OldFiles: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := l.Logger("x")
	for i := 0; i < 40; i++ {
		g.Warningf("message number %02d", i) // 18 bytes: 5 per file of 100
	}
	l.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	slices.Sort(names)
	want := []string{p, p + ".1", p + ".2"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	files := readRotated(t, p, 2)
	got := strings.Join(files, "")
	wantText := ""
	for i := 25; i < 40; i++ {
		wantText += fmt.Sprintf("message number %02d\n", i)
	}
	if got != wantText {
		t.Errorf("kept %q, want the last 15 messages", got)
	}
}

// TestTimedRotationNames: with when S the file is moved to
// zeo.log.<start of its interval> when a record arrives after the
// interval, and old-files bounds how many are kept (Python's
// TimedRotatingFileHandler naming and getFilesToDelete).
func TestTimedRotationNames(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "zeo.log")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.Local)
	if err := os.WriteFile(p, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, t0, t0); err != nil {
		t.Fatal(err)
	}
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: p, Rotation: Rotation{When: "s", Interval: 1, OldFiles: 2}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := l.Logger("x")
	for _, sec := range []int{0, 5, 7, 9} {
		now := t0.Add(time.Duration(sec) * time.Second)
		l.now = func() time.Time { return now }
		g.Warningf("at %d", sec)
	}
	l.Close()
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	slices.Sort(names)
	// Rotations at 5 (interval 10:00:00), 7 (10:00:05), 9 (10:00:07);
	// old-files 2 drops the first.
	want := []string{"zeo.log", "zeo.log.2026-12-07_10-00-05", "zeo.log.2026-12-07_10-00-07"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	if b, _ := os.ReadFile(p); string(b) != "at 9\n" {
		t.Errorf("current file %q", b)
	}
	if b, _ := os.ReadFile(p + ".2026-12-07_10-00-07"); string(b) != "at 7\n" {
		t.Errorf("rotated file %q", b)
	}
}

// TestNextRollover checks computeRollover's rules for the calendar
// kinds: MIDNIGHT is the next local midnight, Wn the midnight that ends
// the next day n (Monday is 0).
func TestNextRollover(t *testing.T) {
	loc := time.Local
	mon := time.Date(2026, 12, 7, 15, 30, 0, 0, loc) // a Monday
	cases := []struct {
		when string
		at   time.Time
		want time.Time
	}{
		{"midnight", mon, time.Date(2026, 12, 8, 0, 0, 0, 0, loc)},
		{"MIDNIGHT", time.Date(2026, 12, 8, 0, 0, 0, 0, loc), time.Date(2026, 12, 9, 0, 0, 0, 0, loc)},
		{"W0", mon, time.Date(2026, 12, 8, 0, 0, 0, 0, loc)},                   // Monday: tonight
		{"W2", mon, time.Date(2026, 12, 10, 0, 0, 0, 0, loc)},                  // Wednesday ends
		{"W6", mon, time.Date(2026, 12, 14, 0, 0, 0, 0, loc)},                  // Sunday ends
		{"W0", mon.AddDate(0, 0, 1), time.Date(2026, 12, 15, 0, 0, 0, 0, loc)}, // Tuesday: next Monday night
		{"H", mon, mon.Add(time.Hour)},
		{"D", mon, mon.Add(24 * time.Hour)},
	}
	for _, c := range cases {
		p, err := parseWhen(c.when, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.next(c.at); !got.Equal(c.want) {
			t.Errorf("%s after %v: %v, want %v", c.when, c.at, got, c.want)
		}
	}
}

// TestSizeRotationMatchesPython writes the same records through Python's
// logging.handlers.RotatingFileHandler and ours: the same files with the
// same bytes. Skips without a python3.
func TestSizeRotationMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	var msgs []string
	for i := 0; i < 60; i++ {
		msgs = append(msgs, strings.Repeat(string(rune('a'+i%26)), 5+i%17))
	}
	pyDir, goDir := t.TempDir(), t.TempDir()
	script := `import logging, logging.handlers, sys
h = logging.handlers.RotatingFileHandler(sys.argv[1] + "/zeo.log", maxBytes=120, backupCount=3)
h.setFormatter(logging.Formatter("%(message)s"))
for m in sys.argv[2:]:
    h.emit(logging.makeLogRecord({"msg": m}))
h.close()
`
	out, err := exec.Command(py, append([]string{"-c", script, pyDir}, msgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	l, err := Open(Config{Handlers: []HandlerConfig{{Path: filepath.Join(goDir, "zeo.log"), Rotation: Rotation{MaxSize: 120, OldFiles: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	g := l.Logger("x")
	for _, m := range msgs {
		g.Warningf("%s", m)
	}
	l.Close()
	for _, name := range []string{"zeo.log", "zeo.log.1", "zeo.log.2", "zeo.log.3", "zeo.log.4"} {
		want, werr := os.ReadFile(filepath.Join(pyDir, name))
		got, gerr := os.ReadFile(filepath.Join(goDir, name))
		if (werr == nil) != (gerr == nil) || string(got) != string(want) {
			t.Errorf("%s: ours %q (%v), Python's %q (%v)", name, got, gerr, want, werr)
		}
	}
}

// TestSyslogHandler sends records to a syslog listener on a Unix datagram
// socket and on UDP: each arrives with the facility and the severity of
// its level, and the handler's format.
func TestSyslogHandler(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "log")
	ux, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, c := range []struct {
		name string
		cfg  SyslogConfig
		conn net.PacketConn
	}{
		{"unix", SyslogConfig{Network: "unix", Address: sock, Facility: "local3", Tag: "runzeo"}, ux},
		{"udp", SyslogConfig{Network: "udp", Address: udp.LocalAddr().String(), Facility: "daemon", Tag: "runzeo"}, udp},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			l, err := Open(Config{Level: LevelInfo, Handlers: []HandlerConfig{{Format: "%(name)s %(message)s", Syslog: &cfg}}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.Logger("ZEO.StorageServer").Warningf("disk nearly full")
			l.Logger("ZEO.StorageServer").Debugf("not sent: below the level")
			l.Logger("ZEO.runzeo").Criticalf("stopping")
			fac := SyslogFacilities[cfg.Facility]
			for _, want := range []struct {
				pri  int
				text string
			}{{int(fac) | 4, "runzeo[" + fmt.Sprint(os.Getpid()) + "]: ZEO.StorageServer disk nearly full"}, {int(fac) | 2, "ZEO.runzeo stopping"}} {
				buf := make([]byte, 2048)
				c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, _, err := c.conn.ReadFrom(buf)
				if err != nil {
					t.Fatal(err)
				}
				msg := string(buf[:n])
				if !strings.HasPrefix(msg, fmt.Sprintf("<%d>", want.pri)) || !strings.Contains(msg, want.text) {
					t.Errorf("received %q, want priority %d and %q", msg, want.pri, want.text)
				}
			}
		})
	}
}
