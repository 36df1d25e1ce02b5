package fstools

import (
	"fmt"
	"io"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// Fsrefs is fsrefs: it checks a FileStorage for dangling references, like
// ZODB's fsrefs.py: it opens the file read-only, loads the current
// revision of every object and reports objects referring to missing,
// unloadable or uncreated (undone) objects, in fsrefs' format. As in
// Python the exit status is 0 when the check ran (whatever it found);
// 1 when the file cannot be opened.
// It returns the exit status.
func Fsrefs(args []string, stdout, stderr io.Writer) int {
	var files []string
	for _, a := range args {
		if a == "-v" { // only shows tracebacks in Python
			continue
		}
		if len(a) > 1 && a[0] == '-' {
			fmt.Fprintln(stderr, "usage: fsrefs [-v] data.fs")
			return 2
		}
		files = append(files, a)
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "usage: fsrefs [-v] data.fs")
		return 2
	}
	s, err := filestorage.Open(files[0], filestorage.Options{ReadOnly: true})
	if err != nil {
		fmt.Fprintln(stderr, "fsrefs:", err)
		return 1
	}
	defer s.Close()
	if _, err := s.RefsReport(stdout); err != nil {
		fmt.Fprintln(stderr, "fsrefs:", err)
		return 1
	}
	return 0
}
