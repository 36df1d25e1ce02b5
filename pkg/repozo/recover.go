package repozo

import (
	"bufio"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// countingReader counts the bytes read from a repository file on disk,
// for the progress bar.
type countingReader struct {
	r     io.Reader
	done  *int64
	total int64
	bar   filestorage.ProgressFunc
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.done += int64(n)
	if c.bar != nil && n > 0 {
		c.bar(*c.done, c.total)
	}
	return n, err
}

// openBackup opens a repository file for reading, decompressing a .fsz
// or .deltafsz as repozo.py's concat does.
func openBackup(name string, counted func(io.Reader) io.Reader) (io.Reader, func(), error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	r := counted(f)
	if !isGzip(name) {
		return r, func() { f.Close() }, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, readChunk))
	if err != nil {
		f.Close()
		return nil, nil, fail(ErrVerification, "%s: not a readable gzip file: %v", name, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// concat is repozo.py's concat: the files' contents one after the
// other, written to w when it is not nil; it returns their total size
// and md5, and the md5 of their first prefixAt bytes ("" when they are
// shorter). With lines (the files' .dat lines) each file's size and md5
// are checked against its line, which repozo.py does only with
// --with-verify. perFile, when set, is told each file's size and md5.
func (o *Options) concat(files []string, lines []datLine, w io.Writer, prefixAt int64) (int64, string, string, error) {
	var total, diskDone int64
	var bar filestorage.ProgressFunc
	if o.Terminal != nil {
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				total += st.Size()
			}
		}
		var done func()
		bar, done = filestorage.TerminalProgress(o.Terminal, "repozo", total)
		defer done()
	}
	counted := func(r io.Reader) io.Reader {
		return &countingReader{r: r, done: &diskDone, total: total, bar: bar}
	}
	all := md5.New()
	prefix := ""
	if prefixAt == 0 {
		prefix = hex.EncodeToString(all.Sum(nil))
	}
	var size int64
	buf := make([]byte, readChunk)
	for i, name := range files {
		r, closeFn, err := openBackup(name, counted)
		if err != nil {
			return 0, "", "", err
		}
		one := md5.New()
		var n int64
		for {
			k, rerr := r.Read(buf)
			if k > 0 {
				b := buf[:k]
				one.Write(b)
				if size < prefixAt && size+int64(k) >= prefixAt {
					all.Write(b[:prefixAt-size])
					prefix = hex.EncodeToString(all.Sum(nil))
					all.Write(b[prefixAt-size:])
				} else {
					all.Write(b)
				}
				if w != nil {
					if _, werr := w.Write(b); werr != nil {
						closeFn()
						return 0, "", "", fmt.Errorf("writing the recovered data: %w", werr)
					}
				}
				n += int64(k)
				size += int64(k)
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				closeFn()
				return 0, "", "", fail(ErrVerification, "%s: cannot be read after %d bytes: %v", name, n, rerr)
			}
		}
		closeFn()
		sum := hex.EncodeToString(one.Sum(nil))
		if lines != nil {
			d := lines[i]
			if n != d.end-d.start {
				return 0, "", "", fail(ErrVerification, "%s is %d bytes, should be %d bytes", name, n, d.end-d.start)
			}
			if sum != d.sum {
				return 0, "", "", fail(ErrVerification, "%s has checksum %s instead of %s", name, sum, d.sum)
			}
		}
		if o.WithVerify && o.Mode == Recover {
			o.logf("Recovered chunk %s : %d bytes, md5: %s", name, n, sum)
		}
	}
	return size, hex.EncodeToString(all.Sum(nil)), prefix, nil
}

// recover is repozo.py's do_recover.
func (o *Options) recover() error {
	files, err := o.findFiles()
	if err != nil {
		return err
	}
	if len(files) == 0 {
		if o.Date != "" {
			return fail(ErrNoFiles, "No files in repository before %s", o.Date)
		}
		return fail(ErrNoFiles, "No files in repository")
	}
	lines, err := o.chain(files)
	if err != nil {
		return err
	}
	if lines == nil && o.WithVerify {
		// repozo.py opens the .dat and fails with the OSError.
		if _, err := os.Stat(datPath(files[0])); err != nil {
			return &fs.PathError{Op: "open", Path: datPath(files[0]), Err: errors.Unwrap(err)}
		}
	}
	var w io.Writer
	var part *os.File
	tmpName := o.Output + ".part"
	if !o.HasOutput {
		o.logf("Recovering file to stdout")
		w = o.Stdout
	} else {
		if _, err := os.Lstat(o.Output); err == nil {
			o.logf("Deleting old %s", o.Output)
			if err := os.Remove(o.Output); err != nil {
				return err
			}
		}
		o.logf("Recovering file to %s", o.Output)
		part, err = os.Create(tmpName)
		if err != nil {
			return err
		}
		defer part.Close()
		w = part
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	n, sum, _, err := o.concat(files, lines, bw, -1)
	if err == nil {
		if err = bw.Flush(); err != nil {
			err = fmt.Errorf("writing the recovered data: %w", err)
		}
	}
	if err != nil {
		return err
	}
	if o.WithVerify {
		o.logf("Recovered a total of %d bytes", n)
	} else {
		o.logf("Recovered %d bytes, md5: %s", n, sum)
	}
	if !o.HasOutput {
		return nil
	}
	root, _ := splitExt(files[len(files)-1])
	src, dst := root+".index", o.Output+".index"
	if _, err := os.Stat(src); err == nil {
		o.logf("Restoring index file %s to %s", src, dst)
		if err := copyFile(src, dst); err != nil {
			return err
		}
	} else {
		o.logf("No index file to restore: %s", src)
	}
	if err := part.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := part.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, o.Output); err != nil {
		o.logf("ZODB has been fully recovered as %s, but it cannot be renamed into : %s", tmpName, o.Output)
		return err
	}
	return nil
}

// copyFile is shutil.copyfile.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// verify is repozo.py's do_verify: every file the latest full backup's
// .dat lists must exist with the size (and, without -Q, the md5) the
// .dat gives. Beyond repozo.py, the .dat's ranges must follow each
// other and every backup file of the chain must be listed.
func (o *Options) verify() error {
	files, err := o.findFiles()
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fail(ErrNoFiles, "No files in repository")
	}
	lines, err := readDat(datPath(files[0]))
	if err != nil {
		return err
	}
	for _, d := range lines {
		name := d.name(o.Repository)
		o.logf("Verifying %s", name)
		size, sum, err := o.sizeAndSum(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fail(ErrVerification, "%s is missing", name)
			}
			return err
		}
		when := ""
		if isGzip(name) {
			when = " (when uncompressed)"
		}
		if want := d.end - d.start; size != want {
			return fail(ErrVerification, "%s is %d bytes%s, should be %d bytes", name, size, when, want)
		}
		if !o.Quick && sum != d.sum {
			return fail(ErrVerification, "%s has checksum %s%s instead of %s", name, sum, when, d.sum)
		}
	}
	_, err = o.chain(files)
	return err
}

// sizeAndSum is the (uncompressed) size of a repository file and, unless
// -Q, its md5.
func (o *Options) sizeAndSum(name string) (int64, string, error) {
	if !isGzip(name) && o.Quick {
		st, err := os.Stat(name)
		if err != nil {
			return 0, "", err
		}
		return st.Size(), "", nil
	}
	r, closeFn, err := openBackup(name, func(r io.Reader) io.Reader { return r })
	if err != nil {
		return 0, "", err
	}
	defer closeFn()
	h := md5.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return 0, "", fail(ErrVerification, "%s: cannot be read after %d bytes: %v", name, n, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
