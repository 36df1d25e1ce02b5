package repozo

import (
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// readChunk is repozo.py's READCHUNK.
const readChunk = 16 * 1024

// Run does what o.Mode says.
func Run(o *Options) error {
	switch o.Mode {
	case Backup:
		return o.backup()
	case Recover:
		return o.recover()
	case Verify:
		return o.verify()
	}
	return fmt.Errorf("repozo: no mode")
}

// backup is repozo.py's do_backup.
func (o *Options) backup() error {
	files, err := o.findFiles()
	if err != nil {
		return err
	}
	if o.Full || len(files) == 0 {
		o.logf("doing a full backup")
		return o.fullBackup()
	}
	st, err := os.Stat(o.File)
	if err != nil {
		return err
	}
	srcsz := st.Size()
	if o.Quick {
		return o.quickBackup(files, srcsz)
	}
	lines, err := o.chain(files)
	if err != nil {
		return err
	}
	if lines == nil {
		return fail(ErrVerification, "%s is missing: an increment cannot be added to %s (use -F for a new full backup)", datPath(files[0]), files[0])
	}
	// Unlike repozo.py, which reads the Data.fs twice, one pass gives
	// both the checksum of the whole file and of the backed-up part.
	reposz, reposum, repoPrefix, err := o.concat(files, lines, nil, srcsz)
	if err != nil {
		return err
	}
	o.logf("repository state: %d bytes, md5: %s", reposz, reposum)
	srcsum, srcsumBackedUp, err := o.checksumFile(srcsz, reposz)
	if err != nil {
		return err
	}
	o.logf("current state   : %d bytes, md5: %s", srcsz, srcsum)
	o.logf("backed up state : %d bytes, md5: %s", reposz, srcsumBackedUp)
	if srcsz == reposz && srcsum == reposum {
		o.logf("No changes, nothing to do")
		return nil
	}
	if srcsz < reposz {
		if repoPrefix == srcsum {
			return o.truncated(srcsz, reposz)
		}
		o.logf("file shrunk, possibly because of a pack (full backup)")
		return o.fullBackup()
	}
	if reposum == srcsumBackedUp {
		o.logf("doing incremental, starting at: %d", reposz)
		return o.incrementalBackup(reposz, files)
	}
	o.logf("file changed, possibly because of a pack (full backup)")
	return o.fullBackup()
}

// truncated is the error for a Data.fs that is a cut-short copy of what
// the repository holds: repozo.py would take a full backup of it, and
// the next -k would delete the only copy of the lost transactions.
func (o *Options) truncated(srcsz, reposz int64) error {
	return fail(ErrTruncated, "%s is %d bytes, shorter than the %d bytes already backed up, and identical to their start: it was truncated since the last backup (recover it with -R, or force a new full backup with -F)", o.File, srcsz, reposz)
}

// quickBackup is do_backup's -Q branch: only the last increment's byte
// range of the Data.fs is checked against its md5 in the .dat.
func (o *Options) quickBackup(files []string, srcsz int64) error {
	all, err := readDat(datPath(files[0]))
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(all) == 0) {
		o.logf("missing or empty .dat file (full backup)")
		return o.fullBackup()
	}
	if err != nil {
		return err
	}
	lines, err := o.chain(files)
	if err != nil {
		return err
	}
	for i, f := range files {
		if isGzip(f) {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		if want := lines[i].end - lines[i].start; st.Size() != want {
			return fail(ErrVerification, "%s is %d bytes, should be %d bytes", f, st.Size(), want)
		}
	}
	last := all[len(all)-1]
	if srcsz < last.end {
		// Tell a truncation from a pack: that needs the backed-up bytes.
		_, _, repoPrefix, err := o.concat(files, lines, nil, srcsz)
		if err != nil {
			return err
		}
		srcsum, _, err := o.checksumFile(srcsz, 0)
		if err != nil {
			return err
		}
		if repoPrefix == srcsum {
			return o.truncated(srcsz, last.end)
		}
		o.logf("file shrunk, possibly because of a pack (full backup)")
		return o.fullBackup()
	}
	srcsum, err := checksumRange(o.File, last.start, last.end-last.start)
	if err != nil {
		return err
	}
	o.logf("last incremental file: %s", last.file)
	o.logf("last incremental checksum: %s", last.sum)
	o.logf("source checksum range: [%d..%d], sum: %s", last.start, last.end, srcsum)
	if last.sum == srcsum {
		if srcsz == last.end {
			o.logf("No changes, nothing to do")
			return nil
		}
		o.logf("doing incremental, starting at: %d", last.end)
		return o.incrementalBackup(last.end, files)
	}
	o.logf("file changed, possibly because of a pack (full backup)")
	return o.fullBackup()
}

// checksumFile returns the md5 of the first n bytes of the Data.fs and
// of its first at bytes (of all n when at >= n), read in one pass.
func (o *Options) checksumFile(n, at int64) (sum, sumAt string, err error) {
	f, err := os.Open(o.File)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	var r io.Reader = io.LimitReader(f, n)
	if o.Terminal != nil {
		bar, done := filestorage.TerminalProgress(o.Terminal, "repozo", n)
		defer done()
		var read int64
		r = &countingReader{r: r, done: &read, total: n, bar: bar}
	}
	h := md5.New()
	sumAt, err = hashWithPrefix(h, r, at)
	if err != nil {
		return "", "", fmt.Errorf("reading %s: %w", o.File, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if sumAt == "" {
		sumAt = sum
	}
	return sum, sumAt, nil
}

// hashWithPrefix feeds r to h and returns the hex digest as it was
// after the first at bytes ("" when r ends before).
func hashWithPrefix(h hash.Hash, r io.Reader, at int64) (string, error) {
	var done int64
	prefix := ""
	if at == 0 {
		prefix = hex.EncodeToString(h.Sum(nil))
	}
	buf := make([]byte, readChunk)
	for {
		k, err := r.Read(buf)
		if k > 0 {
			b := buf[:k]
			if done < at && done+int64(k) >= at {
				h.Write(b[:at-done])
				prefix = hex.EncodeToString(h.Sum(nil))
				h.Write(b[at-done:])
			} else {
				h.Write(b)
			}
			done += int64(k)
		}
		if err == io.EOF {
			return prefix, nil
		}
		if err != nil {
			return prefix, err
		}
	}
}

// checksumRange is the md5 of n bytes of path from start.
func checksumRange(path string, start, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, start, n)); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// snapshot opens the Data.fs read-only, as repozo.py's
// FileStorage(file, read_only=True), and writes its index to a
// temporary file beside dest. The returned position is the end of the
// last committed transaction (getSize), the boundary a backup of a file
// a server is writing stops at.
func (o *Options) snapshot(indexTmp string) (int64, error) {
	s, err := filestorage.Open(o.File, filestorage.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	o.logf("writing index")
	pos, err := s.SaveIndex(indexTmp)
	if err != nil {
		os.Remove(indexTmp)
		return 0, o.writeErr(strings.TrimSuffix(indexTmp, ".repozo-tmp"), err)
	}
	return pos, nil
}

// target is the name of a new backup file and its index.
type target struct {
	stamp, dest, index string
}

func (o *Options) newTarget(full bool) (target, error) {
	ext := ".deltafs"
	if full {
		ext = ".fs"
	}
	if o.Gzip {
		ext += "z"
	}
	st := stamp(o.now())
	t := target{stamp: st, dest: join(o.Repository, st+ext), index: join(o.Repository, st+".index")}
	if _, err := os.Stat(t.dest); err == nil {
		return t, fail(ErrWouldOverwrite, "Cannot overwrite existing file: %s", t.dest)
	}
	return t, nil
}

func (o *Options) repoDir() string {
	if o.Repository == "" {
		return "."
	}
	return o.Repository
}

// copyRange is repozo.py's copyfile: n bytes of the Data.fs from start
// into a new temporary file in the repository (gzip-compressed with
// -z), flushed and fsynced. It returns the temporary file and the md5 of
// the bytes copied; on failure nothing is left behind.
func (o *Options) copyRange(dest string, start, n int64) (tmp, sum string, err error) {
	in, err := os.Open(o.File)
	if err != nil {
		return "", "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(o.repoDir(), "repozo-*.tmp")
	if err != nil {
		return "", "", o.writeErr(dest, err)
	}
	name := out.Name()
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(name)
		}
	}()
	var w io.Writer = out
	var zw *gzip.Writer
	if o.Gzip {
		zw = gzip.NewWriter(out)
		w = zw
	}
	h := md5.New()
	var bar filestorage.ProgressFunc
	if o.Terminal != nil {
		var done func()
		bar, done = filestorage.TerminalProgress(o.Terminal, "repozo", n)
		defer done()
	}
	copied, err := copyChunks(io.MultiWriter(w, h), io.NewSectionReader(in, start, n), n, bar)
	var re *readError
	if errors.As(err, &re) {
		return "", "", fmt.Errorf("reading %s: %w", o.File, re.err)
	}
	if err != nil {
		return "", "", o.writeErr(dest, err)
	}
	if copied != n {
		return "", "", fail(ErrTruncated, "%s ended at byte %d while copying bytes %d..%d to the repository", o.File, start+copied, start, start+n)
	}
	if zw != nil {
		if err = zw.Close(); err != nil {
			return "", "", o.writeErr(dest, err)
		}
	}
	if err = out.Sync(); err != nil {
		return "", "", o.writeErr(dest, err)
	}
	if err = out.Close(); err != nil {
		return "", "", o.writeErr(dest, err)
	}
	return name, hex.EncodeToString(h.Sum(nil)), nil
}

// writeErr is a failed write of a new backup file (a full disk): the
// message names the backup being made and says that the repository
// was left as it was.
func (o *Options) writeErr(dest string, err error) error {
	why := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		why = fmt.Sprintf("[Errno %d] %s", int(errno), strerror(errno))
	}
	return &Error{Kind: err, Msg: fmt.Sprintf("cannot write %s: %s (the repository is unchanged)", dest, why)}
}

// readError is a copy's failure to read its source, told apart from a
// failure to write.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// copyChunks copies r to w in readChunk pieces, telling bar; a read
// failure is a *readError.
func copyChunks(w io.Writer, r io.Reader, total int64, bar filestorage.ProgressFunc) (int64, error) {
	buf := make([]byte, readChunk)
	var done int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return done, werr
			}
			done += int64(k)
			if bar != nil {
				bar(done, total)
			}
		}
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return done, &readError{err}
		}
	}
}

// store copies n bytes from start into t, with t's index, and then
// records it in the .dat file through addDat. Until addDat succeeds the
// repository holds none of the new files.
func (o *Options) store(t target, start int64, full bool, dat string, addDat func(line string) error) error {
	idxTmp := t.index + ".repozo-tmp"
	pos, err := o.snapshot(idxTmp)
	if err != nil {
		return err
	}
	defer os.Remove(idxTmp)
	if pos < start {
		return fail(ErrTruncated, "%s: its last transaction ends at byte %d, before the %d bytes already backed up: it shrank while being backed up (run repozo again)", o.File, pos, start)
	}
	if full {
		o.logf("writing full backup: %d bytes to %s", pos, t.dest)
	} else {
		o.logf("writing incremental: %d bytes to %s", pos-start, t.dest)
	}
	tmp, sum, err := o.copyRange(t.dest, start, pos-start)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, t.dest); err != nil {
		return err
	}
	if err := os.Rename(idxTmp, t.index); err != nil {
		os.Remove(t.dest)
		return err
	}
	if err := addDat(fmt.Sprintf("%s %d %d %s\n", t.dest, start, pos, sum)); err != nil {
		os.Remove(t.dest)
		os.Remove(t.index)
		return o.writeErr(dat, err)
	}
	syncDir(o.repoDir())
	return nil
}

// fullBackup is repozo.py's do_full_backup.
func (o *Options) fullBackup() error {
	t, err := o.newTarget(true)
	if err != nil {
		return err
	}
	dat := join(o.Repository, t.stamp+".dat")
	err = o.store(t, 0, true, dat, func(line string) error { return writeNewFile(dat, line) })
	if err != nil {
		return err
	}
	if o.KillOld {
		return o.deleteOldBackups()
	}
	return nil
}

// incrementalBackup is repozo.py's do_incremental_backup: the bytes
// from reposz to the last committed transaction, and a line appended to
// the full backup's .dat.
func (o *Options) incrementalBackup(reposz int64, files []string) error {
	t, err := o.newTarget(false)
	if err != nil {
		return err
	}
	dat := datPath(files[0])
	return o.store(t, reposz, false, dat, func(line string) error { return appendLine(dat, line) })
}

// writeNewFile writes a new .dat through a temporary file.
func writeNewFile(path, content string) error {
	tmp := path + ".repozo-tmp"
	err := os.WriteFile(tmp, []byte(content), 0o644)
	if err == nil {
		err = syncFile(tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// appendLine appends to a .dat; a failed write is cut back off so the
// file stays as it was.
func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.WriteString(line)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if st != nil {
			f.Truncate(st.Size())
		}
		f.Close()
		return fmt.Errorf("appending to %s: %w", path, err)
	}
	return f.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
