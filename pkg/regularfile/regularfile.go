package regularfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrNotRegular is the error (inside an *os.PathError naming the file) for
// a FIFO, device, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// TooLargeError is ReadFile's error for a file longer than its limit.
type TooLargeError struct{ Limit int64 }

func (e *TooLargeError) Error() string { return fmt.Sprintf("file larger than %d bytes", e.Limit) }

// OpenFile is os.OpenFile for a regular file: anything else is refused
// with an *os.PathError{Op: "open", Err: ErrNotRegular} before any read or
// write can block. A FIFO opened write-only without a reader fails with
// ENXIO under O_NONBLOCK; that is reported as ErrNotRegular too.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return nil, notRegular(name)
		}
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(name)
	}
	// Back to an ordinary descriptor: O_NONBLOCK is inert on a regular
	// file for reads and writes, but a child inheriting it, or a
	// filesystem that honours it, must not see a difference from
	// os.OpenFile.
	if err := clearNonblock(f); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return f, nil
}

func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}

// Open is OpenFile(name, os.O_RDONLY, 0).
func Open(name string) (*os.File, error) { return OpenFile(name, os.O_RDONLY, 0) }

// ReadFile reads the whole regular file name. With limit > 0, a file
// longer than limit bytes (by its size or by what a read returns) gives an
// *os.PathError wrapping a *TooLargeError.
func ReadFile(name string, limit int64) ([]byte, error) {
	f, err := Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if limit > 0 {
		if st, err := f.Stat(); err == nil && st.Size() > limit {
			return nil, &os.PathError{Op: "read", Path: name, Err: &TooLargeError{limit}}
		}
		r = io.LimitReader(f, limit+1)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if limit > 0 && int64(len(data)) > limit {
		return nil, &os.PathError{Op: "read", Path: name, Err: &TooLargeError{limit}}
	}
	return data, nil
}

func notRegular(name string) error {
	return &os.PathError{Op: "open", Path: name, Err: ErrNotRegular}
}
