package filestorage

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
)

// ProgressFunc is told how many bytes of total a tool has processed.
type ProgressFunc func(done, total int64)

// progressMin is the file size from which the tools show a bar: below
// it they finish before a bar would be useful.
const progressMin = 4 << 20

// TerminalProgress returns a ProgressFunc drawing a one-line bar on f
// when f is a terminal and the file is big enough; otherwise nil. The
// returned finish function clears the line.
func TerminalProgress(f *os.File, label string, size int64) (ProgressFunc, func()) {
	if size < progressMin || !isatty.IsTerminal(f.Fd()) {
		return nil, func() {}
	}
	last := -1
	draw := func(w io.Writer, done, total int64) {
		if total <= 0 {
			return
		}
		pct := int(done * 100 / total)
		if pct == last {
			return
		}
		last = pct
		n := pct * 30 / 100
		fmt.Fprintf(w, "\r%s [%s%s] %3d%%", label, strings.Repeat("#", n), strings.Repeat(" ", 30-n), pct)
	}
	return func(done, total int64) { draw(f, done, total) }, func() {
		if last >= 0 {
			fmt.Fprintf(f, "\r%s\r", strings.Repeat(" ", len(label)+40))
		}
	}
}
