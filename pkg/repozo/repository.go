package repozo

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// The kinds of failure; every *Error matches one of them with errors.Is.
var (
	// ErrWouldOverwrite is repozo.py's WouldOverwriteFiles: a backup
	// file of this second already exists.
	ErrWouldOverwrite = errors.New("would overwrite files")
	// ErrNoFiles is repozo.py's NoFiles: nothing to recover or verify.
	ErrNoFiles = errors.New("no files in repository")
	// ErrVerification is repozo.py's VerificationFail, and also a
	// repository whose files disagree with their .dat file.
	ErrVerification = errors.New("verification failed")
	// ErrTruncated is a Data.fs shorter than what is already backed up
	// and identical to the backup's start.
	ErrTruncated = errors.New("data file truncated since the last backup")
)

// Error is a failure with the message repozo prints.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func fail(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Message is what repozo prints for err: repozo.py prints str() of its
// RepozoError or OSError, and an OSError with a file name reads
// "[Errno 2] No such file or directory: 'name'".
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	var pe *fs.PathError
	var errno syscall.Errno
	if errors.As(err, &pe) && errors.As(pe.Err, &errno) {
		return fmt.Sprintf("[Errno %d] %s: %s", int(errno), strerror(errno), pyrepr.Str(pe.Path))
	}
	var le *os.LinkError
	if errors.As(err, &le) && errors.As(le.Err, &errno) {
		return fmt.Sprintf("[Errno %d] %s: %s -> %s", int(errno), strerror(errno), pyrepr.Str(le.Old), pyrepr.Str(le.New))
	}
	return err.Error()
}

// strerror is C's strerror for errno: Go's table holds the same texts
// starting with a lower-case letter.
func strerror(e syscall.Errno) string {
	s := e.Error()
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// join is Python's os.path.join for a relative name: the names repozo
// prints and writes into .dat files keep the repository as given
// ("./repo/x.fs", not filepath.Join's "repo/x.fs").
func join(dir, name string) string {
	if dir == "" || strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// splitExt is Python's os.path.splitext for the names repozo makes.
func splitExt(name string) (root, ext string) {
	ext = filepath.Ext(name)
	if strings.HasPrefix(filepath.Base(name), ext) {
		return name, ""
	}
	return name[:len(name)-len(ext)], ext
}

// isDataFile is repozo.py's is_data_file pattern.
var isDataFile = regexp.MustCompile(`^\d{4}(?:-\d\d){5}\.(?:delta)?fsz?$`).MatchString

func isFull(name string) bool {
	_, ext := splitExt(name)
	return ext == ".fs" || ext == ".fsz"
}

func isGzip(name string) bool { return strings.HasSuffix(name, "fsz") }

func (o *Options) logf(format string, args ...any) {
	if o.Verbose {
		fmt.Fprintf(o.Log, format+"\n", args...)
	}
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

// stamp is gen_filename without the extension: the UTC time to the second.
func stamp(t time.Time) string { return t.Format("2006-01-02-15-04-05") }

// dataFiles lists the repository's backup files, sorted by name.
func (o *Options) dataFiles() ([]string, error) {
	ents, err := os.ReadDir(o.Repository)
	if err != nil {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			pe.Path = o.Repository // os.listdir names the directory as given
		}
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if isDataFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// findFiles is repozo.py's find_files: the newest full backup at or
// before the date (-D, else now) and the increments after it up to the
// date, oldest first, as repository paths.
func (o *Options) findFiles() ([]string, error) {
	when := o.Date
	if when == "" {
		when = stamp(o.now())
	}
	o.when = when
	o.logf("looking for files between last full backup and %s...", when)
	all, err := o.dataFiles()
	if err != nil {
		return nil, err
	}
	var needed []string
	for i := len(all) - 1; i >= 0; i-- {
		root, _ := splitExt(all[i])
		if root <= when {
			needed = append(needed, all[i])
			if isFull(all[i]) {
				break
			}
		}
	}
	out := make([]string, len(needed))
	for i, n := range needed {
		out[len(needed)-1-i] = join(o.Repository, n)
	}
	if len(out) > 0 {
		o.logf("files needed to recover state as of %s:", when)
		for _, f := range out {
			o.logf("\t%s", f)
		}
	} else {
		o.logf("no files found")
	}
	return out, nil
}

// datLine is one line of a .dat file: a backup file, the range of the
// Data.fs it holds and the md5 of those bytes.
type datLine struct {
	file       string // as written (the repository path at backup time)
	start, end int64
	sum        string
	line       int
}

// name is the file's path in the repository as given now (repozo.py's
// verify joins the basename to -r).
func (d datLine) name(repo string) string { return join(repo, filepath.Base(d.file)) }

func datPath(full string) string {
	root, _ := splitExt(full)
	return root + ".dat"
}

// datFields splits a .dat line into file, start, end and md5 from the
// right, so that a repository path with a blank in it (which
// repozo.py writes but its str.split() cannot read back) still works.
func datFields(line string) ([4]string, bool) {
	var f [4]string
	s := strings.TrimRight(line, " \t\r")
	for k := 3; k >= 1; k-- {
		i := strings.LastIndexAny(s, " \t")
		if i < 0 {
			return f, false
		}
		f[k] = s[i+1:]
		s = strings.TrimRight(s[:i], " \t")
	}
	f[0] = strings.TrimLeft(s, " \t")
	return f, f[0] != "" && f[3] != ""
}

// readDat reads and checks the .dat file of a full backup; a missing
// file is returned as the error os.Open gives. Beyond repozo.py, which
// trusts the file, it checks that each line has four fields and that
// the ranges start at 0 and follow each other without gap.
func readDat(path string) ([]datLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []datLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		fields, ok := datFields(sc.Text())
		if !ok {
			return nil, fail(ErrVerification, "%s line %d: want four fields (file start end md5): %s", path, n, pyrepr.Str(sc.Text()))
		}
		start, err1 := strconv.ParseInt(fields[1], 10, 64)
		end, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil || start < 0 || end < start {
			return nil, fail(ErrVerification, "%s line %d: bad byte range %s..%s", path, n, pyrepr.Str(fields[1]), pyrepr.Str(fields[2]))
		}
		d := datLine{file: fields[0], start: start, end: end, sum: fields[3], line: n}
		want := int64(0)
		if len(lines) > 0 {
			want = lines[len(lines)-1].end
		}
		if start != want {
			return nil, fail(ErrVerification, "%s line %d: %s starts at byte %d, but the backup before it ends at %d", path, n, d.file, start, want)
		}
		lines = append(lines, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

// chain pairs the files find_files chose with their .dat lines and
// checks they agree: the .dat lists them in the same order, and no
// increment the .dat lists up to the last chosen one is missing from
// the repository. lines is nil when there is no .dat (repozo.py then
// recovers without checking); a .dat that cannot be read is an error.
func (o *Options) chain(files []string) ([]datLine, error) {
	dat := datPath(files[0])
	lines, err := readDat(dat)
	if errors.Is(err, fs.ErrNotExist) {
		o.logf("no %s: the files cannot be checked against it", dat)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for i, f := range files {
		if i >= len(lines) {
			return nil, fail(ErrVerification, "%s is not listed in %s", f, dat)
		}
		d := lines[i]
		if filepath.Base(d.file) != filepath.Base(f) {
			if _, err := os.Stat(d.name(o.Repository)); err != nil {
				return nil, fail(ErrVerification, "%s is missing (%s line %d lists it before %s)", d.name(o.Repository), dat, d.line, f)
			}
			return nil, fail(ErrVerification, "%s is not listed in %s (line %d lists %s)", f, dat, d.line, d.file)
		}
	}
	// An increment after the last chosen file, up to the date, that is
	// gone would otherwise go unnoticed: the chain would end early.
	if len(lines) > len(files) {
		d := lines[len(files)]
		root, _ := splitExt(filepath.Base(d.file))
		if _, err := os.Stat(d.name(o.Repository)); err != nil && root <= o.when {
			return nil, fail(ErrVerification, "%s is missing (%s line %d lists it after %s)", d.name(o.Repository), dat, d.line, files[len(files)-1])
		}
	}
	return lines[:len(files)], nil
}

// deleteOldBackups is repozo.py's delete_old_backups: every full and
// incremental backup but the newest full one goes, with its .dat and
// .index.
func (o *Options) deleteOldBackups() error {
	all, err := o.dataFiles()
	if err != nil {
		return err
	}
	var full, deletable []string
	for _, n := range all {
		if isFull(n) {
			full = append(full, n)
		}
		deletable = append(deletable, n)
	}
	if len(full) == 0 {
		return nil
	}
	recent := full[len(full)-1]
	for _, n := range deletable {
		if n == recent {
			continue
		}
		o.logf("removing old backup file %s (and .dat / .index)", n)
		root, _ := splitExt(n)
		os.Remove(join(o.Repository, root+".dat"))
		os.Remove(join(o.Repository, root+".index"))
		if err := os.Remove(join(o.Repository, n)); err != nil {
			return err
		}
	}
	return nil
}
