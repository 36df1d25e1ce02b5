package zdctl

import (
	"errors"
	"io/fs"
	"strconv"
	"syscall"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// pyOSError renders an OS error as Python's OSError str() does:
// "[Errno 2] No such file or directory: 'x.log'" (the filename part only
// when known), since zdaemon prints those texts.
func pyOSError(err error, filename string) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err.Error()
		}
		return err.Error()
	}
	text := errno.Error()
	if text != "" {
		text = string(text[0]-'a'+'A') + text[1:]
		if errno.Error()[0] < 'a' || errno.Error()[0] > 'z' {
			text = errno.Error()
		}
	}
	s := "[Errno " + strconv.Itoa(int(errno)) + "] " + text
	if filename != "" {
		s += ": " + pyrepr.Str(filename)
	}
	return s
}

var errIsDir = syscall.EISDIR
