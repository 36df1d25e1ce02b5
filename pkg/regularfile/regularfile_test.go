package regularfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRefusesWithoutBlocking: a FIFO (read and write), a directory, a
// socket and a character device are refused with ErrNotRegular naming the
// file; none of them blocks (a FIFO without a writer would block open(2)
// for reading, and the test would time out instead of failing).
func TestRefusesWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, c := range []struct {
		name string
		flag int
	}{
		{fifo, os.O_RDONLY},
		{fifo, os.O_WRONLY},
		{fifo, os.O_RDWR},
		{dir, os.O_RDONLY},
		{sock, os.O_RDONLY},
		{os.DevNull, os.O_RDONLY},
		{os.DevNull, os.O_WRONLY},
	} {
		f, err := OpenFile(c.name, c.flag, 0)
		if f != nil {
			f.Close()
		}
		var pe *os.PathError
		if !errors.Is(err, ErrNotRegular) || !errors.As(err, &pe) || pe.Path != c.name {
			t.Errorf("OpenFile(%s, %#o) = %v, want not a regular file naming it", c.name, c.flag, err)
		}
		if err != nil && err.Error() != "open "+c.name+": not a regular file" {
			t.Errorf("message %q", err)
		}
	}
	if _, err := ReadFile(fifo, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("ReadFile(fifo) = %v", err)
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int64{0, 6, 100} {
		got, err := ReadFile(p, limit)
		if err != nil || string(got) != "hello\n" {
			t.Errorf("ReadFile(limit %d) = %q, %v", limit, got, err)
		}
	}
	_, err := ReadFile(p, 5)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 5 || err.Error() != "read "+p+": file larger than 5 bytes" {
		t.Errorf("ReadFile over the limit = %v", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing"), 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// Writing through OpenFile works as os.OpenFile (O_NONBLOCK is inert on
	// a regular file).
	f, err := OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fl, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETFL, 0); errno != 0 || fl&syscall.O_NONBLOCK != 0 {
		t.Errorf("descriptor flags %#o, %v: O_NONBLOCK left set", fl, errno)
	}
	if _, err := f.WriteString("again\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := os.ReadFile(p); string(got) != "hello\nagain\n" {
		t.Errorf("after append: %q", got)
	}
}
