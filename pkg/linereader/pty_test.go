package linereader

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controller and terminal ends.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		t.Skipf("ptsname: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ptm.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { pts.Close(); ptm.Close() })
	return ptm, pts
}

// TestTerminal drives the readline path through a real pty: TAB
// completes a verb, the line is returned, the history file is written,
// and Ctrl-D is EOF.
func TestTerminal(t *testing.T) {
	ptm, pts := openPTY(t)
	go io.Copy(io.Discard, ptm) // the terminal's output (echo, prompts)
	hist := filepath.Join(t.TempDir(), "hist")
	var out bytes.Buffer
	r, err := New(Config{In: pts, Out: &out, HistoryFile: hist, Complete: func(line string) []string {
		if strings.Contains(line, " ") {
			return []string{"options", "python", "all"}
		}
		return []string{"status", "start", "show"}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*term); !ok {
		t.Fatalf("got %T on a pty, want the readline reader", r)
	}
	defer r.Close()
	type res struct {
		line string
		err  error
	}
	lines := make(chan res, 4)
	go func() {
		for i := 0; i < 3; i++ {
			l, err := r.ReadLine("zdctl> ")
			lines <- res{l, err}
			if err != nil {
				return
			}
		}
	}()
	send := func(s string) {
		time.Sleep(100 * time.Millisecond)
		ptm.WriteString(s)
	}
	next := func() res {
		select {
		case got := <-lines:
			return got
		case <-time.After(5 * time.Second):
			t.Fatal("no line read")
		}
		return res{}
	}
	send("stat")
	send("\t")
	send("\r")
	if got := next(); got.line != "status" || got.err != nil {
		t.Errorf("first line %q %v, want the completed verb", got.line, got.err)
	}
	send("show py\t\r")
	if got := next(); got.line != "show python" || got.err != nil {
		t.Errorf("second line %q %v", got.line, got.err)
	}
	send("\x04")
	if got := next(); got.err != io.EOF {
		t.Errorf("Ctrl-D gave %q %v, want EOF", got.line, got.err)
	}
	data, _ := os.ReadFile(hist)
	if !strings.Contains(string(data), "status\n") || !strings.Contains(string(data), "show python\n") {
		t.Errorf("history file %q", data)
	}
}
