package instance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/regularfile"
	"github.com/zdkit/zdkit/templates"
)

// DefaultPort is the port of the 2003 tool (a 2005 maintenance branch
// used 8100; the trunk kept 9999, and so does zdkit).
const DefaultPort = "9999"

// Errors.  ErrNotFound and ErrBadAddress are returned wrapped with the
// program or the value; ErrBadHome names the path.
var (
	ErrNotFound   = errors.New("program not found")
	ErrBadAddress = errors.New("invalid address")
	ErrBadHome    = errors.New("unusable instance home")
)

// NotFoundError is mkzeoinst's "can't find 'X' on path '...'" (the text of
// the IOError the Python tool raised, without the traceback).
type NotFoundError struct {
	Program string
	Path    string // the PATH value searched
	ExeDir  string // the directory searched first, "" if none
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("can't find %s on path %s", pyrepr.Str(e.Program), pyrepr.Str(e.Path))
}

// Unwrap lets errors.Is(err, ErrNotFound) match.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Programs are the absolute paths of the zdkit programs an instance runs.
type Programs struct {
	Zdctl, Zdrun, Runzeo string
}

// ProgramNames are the names looked up, in the order mkzeoinst needs them.
var ProgramNames = []string{"zdctl", "zdrun", "runzeo"}

// FindProgram returns the absolute path of name: in exeDir if it holds an
// executable regular file of that name (the zdkit programs are installed
// together, and mkzeoinst should pick the zdctl of its own release), else
// the first one on pathEnv, searched like the Python tool's which(): an
// empty PATH element means the current directory.
func FindProgram(name, exeDir, pathEnv string) (string, error) {
	if exeDir != "" {
		if p := filepath.Join(exeDir, name); isExecutable(p) {
			return filepath.Abs(p)
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return filepath.Abs(p)
		}
	}
	return "", &NotFoundError{Program: name, Path: pathEnv, ExeDir: exeDir}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && syscall.Access(p, 1 /* X_OK */) == nil
}

// FindPrograms looks up every program of ProgramNames.
func FindPrograms(exeDir, pathEnv string) (Programs, error) {
	var found [3]string
	for i, name := range ProgramNames {
		p, err := FindProgram(name, exeDir, pathEnv)
		if err != nil {
			return Programs{}, err
		}
		found[i] = p
	}
	return Programs{Zdctl: found[0], Zdrun: found[1], Runzeo: found[2]}, nil
}

// ParseAddress checks mkzeoinst's PORT argument and returns the form
// written to zeo.conf's address key: a port number (1-65535), HOST:PORT
// (HOST may be empty, a name, an IPv4 address or a bracketed IPv6
// address), or a path containing "/" for a Unix socket, made absolute
// like every path mkzeoinst writes.  The Python tool crashed with a
// traceback on a non-integer port; zdkit reports it as a usage error.
func ParseAddress(s string) (string, error) {
	if strings.Contains(s, "/") {
		if strings.ContainsAny(s, " \t\r\n") {
			return "", fmt.Errorf("%w %s: a socket path cannot contain white space", ErrBadAddress, pyrepr.Str(s))
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			return "", fmt.Errorf("%w %s: %w", ErrBadAddress, pyrepr.Str(s), err)
		}
		return abs, nil
	}
	host, port := "", s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if strings.HasPrefix(host, "[") != strings.HasSuffix(host, "]") ||
			(strings.Contains(host, ":") && !strings.HasPrefix(host, "[")) {
			return "", fmt.Errorf("%w %s: write an IPv6 host in brackets, as [::1]:9999", ErrBadAddress, pyrepr.Str(s))
		}
		if h := strings.Trim(host, "[]"); strings.HasPrefix(host, "[") && net.ParseIP(h) == nil {
			return "", fmt.Errorf("%w %s: %s is not an IPv6 address", ErrBadAddress, pyrepr.Str(s), pyrepr.Str(h))
		}
		if !strings.HasPrefix(host, "[") && !validHost(host) {
			return "", fmt.Errorf("%w %s: %s is not a host name or address", ErrBadAddress, pyrepr.Str(s), pyrepr.Str(host))
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return "", fmt.Errorf("%w %s: the port must be a number from 1 to 65535", ErrBadAddress, pyrepr.Str(s))
	}
	return s, nil
}

// validHost accepts what can follow "address " in zeo.conf and be
// resolved: letters, digits, dots and hyphens (empty = all interfaces).
func validHost(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// File is one rendered instance file.
type File struct {
	Path       string // relative to the home: "etc/zeo.conf"
	Content    string
	Executable bool
}

// Render renders the instance files for home (absolute), address (as
// ParseAddress returns it) and the programs, in the order mkzeoinst writes
// them: etc/zeo.conf, etc/zeoctl.conf, bin/zeoctl, bin/runzeo, then
// etc/zeo.service when systemd is set.
func Render(home, address string, progs Programs, systemd bool) ([]File, error) {
	return RenderPostgreSQL(home, address, progs, systemd, "")
}

// RenderPostgreSQL is Render for an instance whose storage is a
// PostgreSQL database in RelStorage's schema (dsn, a libpq connection
// string or URL) instead of var/Data.fs.
func RenderPostgreSQL(home, address string, progs Programs, systemd bool, dsn string) ([]File, error) {
	if strings.ContainsAny(dsn, "\r\n") {
		return nil, fmt.Errorf("%w: the PostgreSQL DSN %s contains a line break, which zeo.conf cannot express", ErrBadHome, pyrepr.Str(dsn))
	}
	for _, p := range []string{home, progs.Zdctl, progs.Zdrun, progs.Runzeo} {
		// ZConfig splits the program line on white space and has no
		// quoting, so such a path cannot be written at all.
		if strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
			return nil, fmt.Errorf("%w: %s contains white space or a control character, which zeoctl.conf's program line cannot express", ErrBadHome, pyrepr.Str(p))
		}
	}
	data := map[string]string{
		"Home": home, "Address": address,
		"Zdctl": progs.Zdctl, "Zdrun": progs.Zdrun, "Runzeo": progs.Runzeo,
		"PostgreSQL": dsn,
	}
	list := []File{
		{Path: "etc/zeo.conf"},
		{Path: "etc/zeoctl.conf"},
		{Path: "bin/zeoctl", Executable: true},
		{Path: "bin/runzeo", Executable: true},
	}
	if systemd {
		list = append(list, File{Path: "etc/zeo.service"})
	}
	for i := range list {
		text, err := fs.ReadFile(templates.FS, list[i].Path)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", list[i].Path, err)
		}
		t, err := template.New(list[i].Path).Funcs(funcs).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", list[i].Path, err)
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("template %s: %w", list[i].Path, err)
		}
		list[i].Content = b.String()
	}
	return list, nil
}

var funcs = template.FuncMap{
	// conf: ZConfig substitutes $NAME, ${NAME} and $(NAME) in values;
	// "$$" is a literal dollar.
	"conf": func(s string) string { return strings.ReplaceAll(s, "$", "$$") },
	// sh: single-quote for /bin/sh unless the path is plainly safe, so
	// the usual script reads exactly like the 2003 one.
	"sh": shQuote,
	// unit: systemd expands %-specifiers in every setting used here.
	"unit": func(s string) string { return strings.ReplaceAll(s, "%", "%%") },
	// unitexec: ExecStart also expands $VAR and ${VAR}.
	"unitexec": func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "%", "%%"), "$", "$$")
	},
}

func shQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+,:@%=", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Options are what one mkzeoinst run does.
type Options struct {
	Home    string // instance home; made absolute
	Address string // as ParseAddress returns it; "" means DefaultPort
	Force   bool   // rewrite files whose content differs
	Systemd bool   // also write etc/zeo.service
	// PostgreSQL, when set, is the DSN of the database the instance
	// serves (a <relstorage> section) instead of var/Data.fs.
	PostgreSQL string
	ExeDir     string // searched for the programs before PathEnv
	PathEnv    string // the PATH to search
	Out        io.Writer
}

// Make creates or completes the instance, printing what it does to
// o.Out with the 2003 tool's messages.  The programs are looked up and
// the files rendered before anything is created.
func Make(o Options) error {
	home, err := filepath.Abs(o.Home)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrBadHome, pyrepr.Str(o.Home), err)
	}
	addr := o.Address
	if addr == "" {
		addr = DefaultPort
	}
	progs, err := FindPrograms(o.ExeDir, o.PathEnv)
	if err != nil {
		return err
	}
	files, err := RenderPostgreSQL(home, addr, progs, o.Systemd, o.PostgreSQL)
	if err != nil {
		return err
	}
	umask := currentUmask()
	for _, d := range []string{home, filepath.Join(home, "etc"), filepath.Join(home, "var"),
		filepath.Join(home, "log"), filepath.Join(home, "bin")} {
		if err := mkdirs(d, o.Out); err != nil {
			return err
		}
	}
	for _, f := range files {
		p := filepath.Join(home, filepath.FromSlash(f.Path))
		if err := writeFile(p, f.Content, o.Force, o.Out); err != nil {
			return err
		}
		if f.Executable {
			// mkzeoinst's makexfile: whether written or not, the
			// script gets 0777 minus the umask.
			want := fs.FileMode(0o777 &^ umask)
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if fi.Mode().Perm() != want {
				if err := os.Chmod(p, want); err != nil {
					return err
				}
				fmt.Fprintf(o.Out, "Changed mode for %s to %o\n", p, want)
			}
		}
	}
	fmt.Fprintln(o.Out, "All done.")
	return nil
}

// mkdirs is the Python tool's recursive mkdirs: missing ancestors first,
// one "Created directory" line for each directory made.
func mkdirs(p string, out io.Writer) error {
	if fi, err := os.Stat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s exists and is not a directory", ErrBadHome, pyrepr.Str(p))
		}
		return nil
	}
	if parent := filepath.Dir(p); parent != p {
		if err := mkdirs(parent, out); err != nil {
			return err
		}
	}
	if err := os.Mkdir(p, 0o777); err != nil {
		return err
	}
	fmt.Fprintln(out, "Created directory", p)
	return nil
}

// writeFile is makefile: an existing file with non-blank content is kept
// (with a warning if it differs once both are stripped of surrounding
// white space) unless force is set; an empty or missing file is written.
func writeFile(p, content string, force bool, out io.Writer) error {
	// A FIFO there would block the read (and the write after it).
	old, err := regularfile.ReadFile(p, 0)
	switch {
	case err == nil:
		oldText := strings.TrimSpace(string(old))
		if oldText != "" {
			if oldText == strings.TrimSpace(content) {
				return nil
			}
			if !force {
				fmt.Fprintf(out, "Warning: not overwriting existing file %s\n", pyrepr.Str(p))
				return nil
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	// 0666 minus the umask, like Python's open(path, "w").  An existing
	// file keeps its mode; WriteFile truncates it.
	if err := os.WriteFile(p, []byte(content), 0o666); err != nil {
		return err
	}
	fmt.Fprintln(out, "Wrote file", p)
	return nil
}

// currentUmask reads the process umask: from /proc (Linux 4.7+) without
// touching it, else by setting and restoring it as the Python tool did.
func currentUmask() int {
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseInt(strings.TrimSpace(v), 8, 32); err == nil {
					return int(m)
				}
			}
		}
	}
	m := syscall.Umask(0o022)
	syscall.Umask(m)
	return m
}
