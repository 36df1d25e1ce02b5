package repozo

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// record is a small persistent-object pickle pair (class, then state)
// as ZODB writes them.
func record(n int) []byte {
	return []byte(fmt.Sprintf("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.\x80\x03}q\x01X\x01\x00\x00\x00nq\x02X%c\x00\x00\x00%ss.", rune(len(fmt.Sprint(n))), fmt.Sprint(n)))
}

// commitN commits n transactions, each storing one new object.
func commitN(t *testing.T, s *filestorage.FileStorage, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		x, err := s.Begin(filestorage.TxnMeta{User: []byte("u"), Description: []byte(fmt.Sprint("txn ", i))})
		if err != nil {
			t.Fatal(err)
		}
		oids, err := s.NewOids(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Store(oids[0], 0, record(i)); err != nil {
			t.Fatal(err)
		}
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		if _, err := x.Finish(); err != nil {
			t.Fatal(err)
		}
	}
}

func openStore(t *testing.T, path string) *filestorage.FileStorage {
	t.Helper()
	s, err := filestorage.Open(path, filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clock hands out backup times one second apart, as a series of
// repozo runs a second or more apart would see.
type clock struct{ t time.Time }

func (c *clock) next() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)} }

// run parses args as the command line does and runs them at the given
// time; it returns stdout, stderr (-v log) and the error.
func run(t *testing.T, now time.Time, args ...string) (string, string, error) {
	t.Helper()
	var so, se bytes.Buffer
	o, err := parseArgs(args, &se)
	if err != nil {
		t.Fatalf("parseArgs %v: %v", args, err)
	}
	o.Now = func() time.Time { return now }
	o.Stdout, o.Log = &so, &se
	err = Run(o)
	return so.String(), se.String(), err
}

func mustRun(t *testing.T, now time.Time, args ...string) string {
	t.Helper()
	so, se, err := run(t, now, args...)
	if err != nil {
		t.Fatalf("repozo %v: %v\n%s", args, err, se)
	}
	return so
}

// tree is every file of a directory with its contents, to show that a
// failed run left the repository as it was.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func sameTree(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := tree(t, dir)
	var diff []string
	for k, v := range before {
		if after[k] != v {
			diff = append(diff, "changed or removed: "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diff = append(diff, "added: "+k)
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Errorf("repository changed by a failed run: %v", diff)
	}
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// backupSeries makes a repository from a full and three incremental
// backups (the last two gzipped) of a Data.fs that grows between them,
// and returns the Data.fs bytes at each backup.
func backupSeries(t *testing.T, dir string, c *clock) (s *filestorage.FileStorage, data, repo string, states [][]byte, times []time.Time) {
	t.Helper()
	data, repo = filepath.Join(dir, "Data.fs"), filepath.Join(dir, "repo")
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, data)
	for i := 0; i < 4; i++ {
		commitN(t, s, 3)
		args := []string{"-B", "-r", repo, "-f", data}
		if i >= 2 {
			args = append(args, "-z")
		}
		now := c.next()
		mustRun(t, now, args...)
		states = append(states, fileBytes(t, data))
		times = append(times, now)
	}
	return s, data, repo, states, times
}

func TestBackupSeriesRecoversEveryState(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	_, _, repo, states, times := backupSeries(t, dir, c)
	names := []string{}
	for n := range tree(t, repo) {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{
		"2026-03-04-05-06-08.dat", "2026-03-04-05-06-08.fs", "2026-03-04-05-06-08.index",
		"2026-03-04-05-06-09.deltafs", "2026-03-04-05-06-09.index",
		"2026-03-04-05-06-10.deltafsz", "2026-03-04-05-06-10.index",
		"2026-03-04-05-06-11.deltafsz", "2026-03-04-05-06-11.index",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("repository holds %v, want %v", names, want)
	}
	// The .dat records each piece's range: an increment holds only what
	// was appended.
	dat := strings.Split(strings.TrimSpace(string(fileBytes(t, filepath.Join(repo, "2026-03-04-05-06-08.dat")))), "\n")
	if len(dat) != 4 {
		t.Fatalf(".dat has %d lines, want 4: %q", len(dat), dat)
	}
	prev := 0
	for i, l := range dat {
		f := strings.Fields(l)
		sum := md5.Sum(states[i][prev:])
		wantLine := fmt.Sprintf("%s %d %d %s", join(repo, strings.TrimPrefix(want[[]int{1, 3, 5, 7}[i]], "")), prev, len(states[i]), hex.EncodeToString(sum[:]))
		if l != wantLine {
			t.Errorf(".dat line %d = %q, want %q", i+1, l, wantLine)
		}
		prev = len(states[i])
		_ = f
	}
	// Recover as of each backup, to a file and to stdout.
	for i, tm := range times {
		out := filepath.Join(dir, fmt.Sprintf("out%d.fs", i))
		mustRun(t, c.next(), "-R", "-r", repo, "-D", stamp(tm), "-o", out)
		if got := fileBytes(t, out); !bytes.Equal(got, states[i]) {
			t.Errorf("recovered state %d: %d bytes, want %d", i, len(got), len(states[i]))
		}
		idx := fileBytes(t, out+".index")
		if want := fileBytes(t, filepath.Join(repo, stamp(tm)+".index")); !bytes.Equal(idx, want) {
			t.Errorf("recovered index %d differs from the backup's", i)
		}
		if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
			t.Errorf("%s.part left behind: %v", out, err)
		}
	}
	so := mustRun(t, c.next(), "-R", "-r", repo, "-w")
	if !bytes.Equal([]byte(so), states[3]) {
		t.Errorf("recovery to stdout: %d bytes, want %d", len(so), len(states[3]))
	}
	mustRun(t, c.next(), "-V", "-r", repo)
	mustRun(t, c.next(), "-V", "-Q", "-r", repo)
	// The index of a backup opens the recovered file without a scan.
	pos, _, err := filestorage.ReadIndex(filepath.Join(dir, "out3.fs.index"))
	if err != nil || pos != int64(len(states[3])) {
		t.Errorf("recovered index: pos %d err %v, want pos %d", pos, err, len(states[3]))
	}
}

func TestQuickBackupAndNoChanges(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s, data, repo, _, _ := backupSeries(t, dir, c)
	_, log, err := run(t, c.next(), "-BQv", "-r", repo, "-f", data)
	if err != nil || !strings.Contains(log, "No changes, nothing to do\n") {
		t.Fatalf("quick backup of an unchanged file: %v\n%s", err, log)
	}
	commitN(t, s, 2)
	_, log, err = run(t, c.next(), "-BQv", "-r", repo, "-f", data)
	if err != nil || !strings.Contains(log, "doing incremental, starting at: ") {
		t.Fatalf("quick backup of a grown file: %v\n%s", err, log)
	}
	out := filepath.Join(dir, "out.fs")
	mustRun(t, c.next(), "-R", "-r", repo, "-o", out)
	if !bytes.Equal(fileBytes(t, out), fileBytes(t, data)) {
		t.Error("recovery after a quick incremental differs from Data.fs")
	}
}

// A transaction being committed (voted, not finished) sits at the end
// of the file; a backup stops before it, at the last committed one.
func TestLiveBackupStopsAtTransactionBoundary(t *testing.T) {
	dir := t.TempDir()
	data, repo := filepath.Join(dir, "Data.fs"), filepath.Join(dir, "repo")
	os.Mkdir(repo, 0o755)
	s := openStore(t, data)
	commitN(t, s, 3)
	committed := s.Size()
	x, err := s.Begin(filestorage.TxnMeta{})
	if err != nil {
		t.Fatal(err)
	}
	oids, _ := s.NewOids(1)
	if err := x.Store(oids[0], 0, record(99)); err != nil {
		t.Fatal(err)
	}
	if err := x.Vote(); err != nil {
		t.Fatal(err)
	}
	defer x.Abort()
	st, _ := os.Stat(data)
	if st.Size() <= committed {
		t.Fatalf("the voted transaction is not in the file (size %d, committed %d)", st.Size(), committed)
	}
	mustRun(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "-B", "-r", repo, "-f", data)
	got := fileBytes(t, filepath.Join(repo, "2026-01-01-00-00-00.fs"))
	if int64(len(got)) != committed || !bytes.Equal(got, fileBytes(t, data)[:committed]) {
		t.Errorf("backup holds %d bytes, want the %d committed ones", len(got), committed)
	}
}

func TestPackForcesFullBackup(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s, data, repo, _, _ := backupSeries(t, dir, c)
	// A second revision of an object makes the pack remove something.
	x, _ := s.Begin(filestorage.TxnMeta{})
	serial, err := s.GetTid(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Store(1, serial, record(1000)); err != nil {
		t.Fatal(err)
	}
	x.Vote()
	last, _ := x.Finish()
	if err := s.Pack(last+1, false); err != nil {
		t.Fatal(err)
	}
	commitN(t, s, 1)
	now := c.next()
	_, log, err := run(t, now, "-Bv", "-r", repo, "-f", data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "(full backup)") {
		t.Errorf("log does not say why a full backup was taken:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(repo, stamp(now)+".fs")); err != nil {
		t.Errorf("no full backup after a pack: %v", err)
	}
	out := filepath.Join(dir, "out.fs")
	mustRun(t, c.next(), "-R", "-r", repo, "-o", out)
	if !bytes.Equal(fileBytes(t, out), fileBytes(t, data)) {
		t.Error("recovery after the pack differs from Data.fs")
	}
	// -k removes the older full backups and their increments.
	commitN(t, s, 1)
	now = c.next()
	mustRun(t, now, "-B", "-F", "-k", "-z", "-r", repo, "-f", data)
	left := tree(t, repo)
	for _, ext := range []string{".fsz", ".dat", ".index"} {
		if _, ok := left[stamp(now)+ext]; !ok {
			t.Errorf("after -k -z: no %s%s", stamp(now), ext)
		}
	}
	if len(left) != 3 {
		t.Errorf("after -k the repository holds %d files, want 3 (.fsz, .dat, .index)", len(left))
	}
	mustRun(t, c.next(), "-R", "-r", repo, "-o", out)
	if !bytes.Equal(fileBytes(t, out), fileBytes(t, data)) {
		t.Error("recovery from a gzipped full backup differs from Data.fs")
	}
}

func TestSameSecondWouldOverwrite(t *testing.T) {
	dir := t.TempDir()
	data, repo := filepath.Join(dir, "Data.fs"), filepath.Join(dir, "repo")
	os.Mkdir(repo, 0o755)
	commitN(t, openStore(t, data), 1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mustRun(t, now, "-B", "-r", repo, "-f", data)
	_, _, err := run(t, now, "-B", "-F", "-r", repo, "-f", data)
	want := "Cannot overwrite existing file: " + repo + "/2026-01-01-00-00-00.fs"
	if !errors.Is(err, ErrWouldOverwrite) || Message(err) != want {
		t.Errorf("second full backup in the same second: %v, want %q", err, want)
	}
}

func TestMissingIncrement(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	_, data, repo, _, _ := backupSeries(t, dir, c)
	gone := filepath.Join(repo, "2026-03-04-05-06-09.deltafs")
	kept := fileBytes(t, gone)
	os.Remove(gone)
	before := tree(t, repo)
	for _, args := range [][]string{
		{"-R", "-r", repo, "-o", filepath.Join(dir, "out.fs")},
		{"-B", "-r", repo, "-f", data},
		{"-B", "-Q", "-r", repo, "-f", data},
	} {
		_, _, err := run(t, c.next(), args...)
		if !errors.Is(err, ErrVerification) || !strings.Contains(Message(err), gone+" is missing") {
			t.Errorf("%v with a missing increment: %v, want %q is missing", args, err, gone)
		}
	}
	_, _, err := run(t, c.next(), "-V", "-r", repo)
	if err == nil || Message(err) != gone+" is missing" {
		t.Errorf("verify: %v, want %s is missing", err, gone)
	}
	sameTree(t, repo, before)
	// The newest increment gone: the chain would silently end early.
	os.WriteFile(gone, kept, 0o644)
	before[filepath.Base(gone)] = string(kept)
	last := filepath.Join(repo, "2026-03-04-05-06-11.deltafsz")
	os.Remove(last)
	_, _, err = run(t, c.next(), "-R", "-r", repo, "-o", filepath.Join(dir, "out.fs"))
	if err == nil || !strings.Contains(Message(err), last+" is missing") {
		t.Errorf("recover without the last increment: %v", err)
	}
	delete(before, filepath.Base(last))
	sameTree(t, repo, before)
	if _, err := os.Stat(filepath.Join(dir, "out.fs")); !os.IsNotExist(err) {
		t.Errorf("out.fs written from an incomplete repository: %v", err)
	}
}

func TestCorruptIncrement(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	_, data, repo, _, _ := backupSeries(t, dir, c)
	for _, tc := range []struct {
		file, want string
		edit       func([]byte) []byte
	}{
		{"2026-03-04-05-06-09.deltafs", "has checksum", func(b []byte) []byte { b[10] ^= 1; return b }},
		{"2026-03-04-05-06-09.deltafs", "is 10 bytes, should be", func(b []byte) []byte { return b[:10] }},
		{"2026-03-04-05-06-10.deltafsz", "not a readable gzip file", func(b []byte) []byte { b[0] = 'x'; return b }},
		{"2026-03-04-05-06-10.deltafsz", "cannot be read after", func(b []byte) []byte { return b[:len(b)/2] }},
	} {
		path := filepath.Join(repo, tc.file)
		orig := fileBytes(t, path)
		os.WriteFile(path, tc.edit(bytes.Clone(orig)), 0o644)
		everyModeFails(t, c, dir, data, repo, path, tc.want)
		os.WriteFile(path, orig, 0o644)
	}
}

func TestDatDisagreesWithFiles(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	_, data, repo, _, _ := backupSeries(t, dir, c)
	dat := filepath.Join(repo, "2026-03-04-05-06-08.dat")
	orig := string(fileBytes(t, dat))
	lines := strings.Split(orig, "\n")
	f := strings.Fields(lines[2])
	for _, tc := range []struct{ content, want string }{
		{strings.Replace(orig, lines[2], f[0]+" 7 "+f[2]+" "+f[3], 1), "line 3: " + f[0] + " starts at byte 7, but the backup before it ends at"},
		{strings.Replace(orig, lines[1], "", 1), "line 2: want four fields"},
		{strings.Join(lines[:2], "\n") + "\n", "2026-03-04-05-06-10.deltafsz is not listed in " + dat},
	} {
		os.WriteFile(dat, []byte(tc.content), 0o644)
		everyModeFails(t, c, dir, data, repo, dat, tc.want)
	}
}

// everyModeFails runs a recovery, a verification and a backup of a
// damaged repository: each must fail with a message naming file and
// saying want, and leave the repository as it was.
func everyModeFails(t *testing.T, c *clock, dir, data, repo, file, want string) {
	t.Helper()
	before := tree(t, repo)
	for _, args := range [][]string{
		{"-R", "-r", repo, "-o", filepath.Join(dir, "out.fs")},
		{"-V", "-r", repo},
		{"-B", "-r", repo, "-f", data},
	} {
		_, _, err := run(t, c.next(), args...)
		if err == nil || !strings.Contains(Message(err), file) || !strings.Contains(Message(err), want) {
			t.Errorf("%v: %v, want an error naming %s and saying %q", args, err, file, want)
		}
	}
	sameTree(t, repo, before)
}

func TestTruncatedDataFs(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s, data, repo, states, _ := backupSeries(t, dir, c)
	s.Close()
	os.WriteFile(data, states[1], 0o644)
	os.Remove(data + ".index")
	before := tree(t, repo)
	for _, args := range [][]string{{"-B", "-r", repo, "-f", data}, {"-B", "-Q", "-r", repo, "-f", data}} {
		_, _, err := run(t, c.next(), args...)
		want := fmt.Sprintf("%s is %d bytes, shorter than the %d bytes already backed up", data, len(states[1]), len(states[3]))
		if !errors.Is(err, ErrTruncated) || !strings.Contains(Message(err), want) {
			t.Errorf("%v of a truncated Data.fs: %v, want %q", args, err, want)
		}
	}
	sameTree(t, repo, before)
	// -F takes the full backup the user asked for.
	mustRun(t, c.next(), "-B", "-F", "-r", repo, "-f", data)
}

// smallDisk mounts a tmpfs of the given size (root only), as the stress
// tests do, so that a backup meets a real ENOSPC.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	os.Mkdir(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func TestFullDiskLeavesRepositoryAsItWas(t *testing.T) {
	disk := smallDisk(t, "256k")
	dir := t.TempDir()
	data := filepath.Join(dir, "Data.fs")
	repo := filepath.Join(disk, "repo")
	os.Mkdir(repo, 0o755)
	s := openStore(t, data)
	commitN(t, s, 5)
	c := newClock()
	mustRun(t, c.next(), "-B", "-r", repo, "-f", data)
	// Grow Data.fs past what the disk has left.
	for st, _ := os.Stat(data); st.Size() < 400<<10; st, _ = os.Stat(data) {
		commitN(t, s, 200)
	}
	before := tree(t, repo)
	for _, args := range [][]string{{"-B", "-r", repo, "-f", data}, {"-B", "-F", "-r", repo, "-f", data}} {
		_, _, err := run(t, c.next(), args...)
		if err == nil || !strings.Contains(Message(err), "No space left on device") || !strings.Contains(Message(err), repo) {
			t.Errorf("%v on a full disk: %v, want ENOSPC naming the repository", args, err)
		}
		sameTree(t, repo, before)
	}
	// Recovering onto a full disk fails the same way and names the file.
	out := filepath.Join(disk, "big.fs")
	fill, err := os.Create(filepath.Join(disk, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := fill.Write(make([]byte, 4096)); err == nil; _, err = fill.Write(make([]byte, 4096)) {
	}
	fill.Close()
	_, _, err = run(t, c.next(), "-R", "-r", repo, "-o", out)
	if err == nil || !strings.Contains(Message(err), "No space left on device") {
		t.Errorf("recovery onto a full disk: %v", err)
	}
	sameTree(t, repo, before)
}

// repozo.py writes a repository path with a blank into the .dat but
// cannot split such a line back; reading it from the right can.
func TestRepositoryPathWithBlank(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my backups")
	os.Mkdir(dir, 0o755)
	c := newClock()
	_, data, repo, states, _ := backupSeries(t, dir, c)
	out := filepath.Join(dir, "out.fs")
	mustRun(t, c.next(), "-R", "-r", repo, "-o", out)
	if !bytes.Equal(fileBytes(t, out), states[3]) {
		t.Error("recovery from a repository path with a blank differs")
	}
	mustRun(t, c.next(), "-V", "-r", repo)
	mustRun(t, c.next(), "-B", "-Q", "-r", repo, "-f", data)
}
