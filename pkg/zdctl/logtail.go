package zdctl

import (
	"bytes"
	"io"
	"os"
	"time"
)

// tailLookback bounds how far back logtail looks for the last lines.
const tailLookback = 16 * 1024

// tailPoll is how often logtail checks the file for growth (zdaemon: 1 s).
const tailPoll = 200 * time.Millisecond

func (c *Controller) doLogtail(arg string) int {
	if arg == "" {
		arg = c.Opts.LogFile
		if arg == "" {
			c.printf("No default log file specified; use logtail <logfile>\n")
			return 0
		}
	}
	f, err := os.Open(arg)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.IsDir() {
			f.Close()
			f, err = nil, &os.PathError{Op: "open", Path: arg, Err: errIsDir}
		}
	}
	if err != nil {
		c.printf("%s\n", pyOSError(err, arg))
		return 0
	}
	defer f.Close()
	c.drainInterrupts()
	if err := c.tailf(f, 10); err != nil {
		c.printf("%s\n", pyOSError(err, arg))
	}
	return 0
}

// tailf prints the last n lines of f, then follows it: new bytes are
// copied as they appear, a shrunken file prints "==> File truncated <=="
// and is read again from the start. The size comes from fstat, so a
// rotated-away (renamed or unlinked) file keeps being followed, as in
// zdaemon. Unlike zdaemon, the first line of a short file is shown and
// following works (zdaemon fault 14). Ctrl-C ends it with a newline.
func (c *Controller) tailf(f *os.File, n int) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	from := max(size-tailLookback, 0)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && err != io.EOF {
		return err
	}
	if from > 0 { // drop the partial first line
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:]
		}
	}
	body := bytes.TrimSuffix(buf, []byte("\n"))
	start := 0
	for k, i := 0, len(body); i > 0; i-- {
		if body[i-1] == '\n' {
			k++
			if k == n {
				start = i
				break
			}
		}
	}
	c.Stdout.Write(buf[start:])
	pos := size
	tick := time.NewTicker(tailPoll)
	defer tick.Stop()
	chunk := make([]byte, 64*1024)
	for {
		select {
		case <-c.intr:
			c.println()
			return nil
		case <-tick.C:
		}
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.Size() < pos {
			c.printf("==> File truncated <==\n")
			pos = 0
		}
		for pos < st.Size() {
			m, err := f.ReadAt(chunk[:min(int64(len(chunk)), st.Size()-pos)], pos)
			c.Stdout.Write(chunk[:m])
			pos += int64(m)
			if err != nil {
				break
			}
		}
	}
}
