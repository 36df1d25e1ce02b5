package instance

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// UsageDoc is what -h/--help prints (the Python tool printed its module
// docstring, which lists the files it creates).
const UsageDoc = `mkzeoinst -- create a ZEO instance.

Usage: mkzeoinst [--force] [--systemd] home [port]

Given an "instance home directory" <home> and an optional port (default
9999; also HOST:PORT, or a path containing "/" for a Unix socket),
create the following:

<home>/etc/zeo.conf     -- ZEO server config file (runzeo -C)
<home>/etc/zeoctl.conf  -- zdctl and zdrun config file
<home>/var/             -- Directory for data files: Data.fs etc.
<home>/log/             -- Directory for log files: zeo.log and zeoctl.log
<home>/bin/zeoctl       -- start/stop script (a shim for zdctl); it can
                           be linked into /etc/rc.d/init.d for chkconfig
<home>/bin/runzeo       -- runs the server in the foreground
<home>/etc/zeo.service  -- a systemd unit (only with --systemd)

The script will not overwrite existing files; instead, it will issue a
warning if an existing file is found that differs from the file that
would be written if it didn't exist.  --force rewrites such files.

The zdkit programs zdctl, zdrun and runzeo are looked up in the directory
of the mkzeoinst executable first, then on $PATH.
`

// Exit statuses of mkzeoinst (docs/mkzeoinst.md, "Messages and exit statuses").
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// LongOptions are mkzeoinst's long options (the only short one is -h).
var LongOptions = []string{"help", "force", "systemd"}

// Main is the whole mkzeoinst command: args are os.Args; it returns the
// exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		// The 2003 tool printed this on stdout.
		fmt.Fprintln(stdout, "Usage: mkzeoinst home [port]")
		return ExitUsage
	}
	var o Options
	var pos []string
	help := false
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			pos = append(pos, rest[i+1:]...)
			i = len(rest)
		case strings.HasPrefix(a, "--"):
			name, _, hasArg := strings.Cut(a[2:], "=")
			full, err := matchLong(name, LongOptions)
			if err != nil {
				fmt.Fprintln(stdout, err)
				return ExitUsage
			}
			if hasArg {
				fmt.Fprintf(stdout, "option --%s must not have an argument\n", full)
				return ExitUsage
			}
			switch full {
			case "help":
				help = true
			case "force":
				o.Force = true
			case "systemd":
				o.Systemd = true
			}
		case len(a) > 1 && a[0] == '-':
			// Short options, possibly grouped; only -h exists.
			for _, c := range a[1:] {
				if c != 'h' {
					fmt.Fprintf(stdout, "option -%c not recognized\n", c)
					return ExitUsage
				}
			}
			help = true
		default:
			// Options may follow the home (getopt's GNU mode), so that
			// "mkzeoinst /srv/zeo --systemd" does what it says.
			pos = append(pos, a)
		}
	}
	// Like getopt, every option is checked before any is acted on.
	if help {
		fmt.Fprint(stdout, UsageDoc)
		return ExitOK
	}
	if len(pos) < 1 || len(pos) > 2 || pos[0] == "" {
		return usage()
	}
	o.Home = pos[0]
	if len(pos) == 2 {
		addr, err := ParseAddress(pos[1])
		if err != nil {
			fmt.Fprintf(stderr, "Error: %v\n", err)
			return usage()
		}
		o.Address = addr
	}
	if exe, err := os.Executable(); err == nil {
		o.ExeDir = filepath.Dir(exe)
	}
	o.PathEnv = os.Getenv("PATH")
	o.Out = stdout
	if err := Make(o); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		if errors.Is(err, ErrBadHome) {
			return ExitUsage
		}
		return ExitError
	}
	return ExitOK
}

// matchLong is Python getopt's long option matching: an exact name or a
// unique prefix.
func matchLong(name string, longs []string) (string, error) {
	var found []string
	for _, l := range longs {
		if l == name {
			return l, nil
		}
		if strings.HasPrefix(l, name) {
			found = append(found, l)
		}
	}
	switch {
	case len(found) == 1 && name != "":
		return found[0], nil
	case len(found) > 1 && name != "":
		return "", fmt.Errorf("option --%s not a unique prefix", name)
	}
	return "", fmt.Errorf("option --%s not recognized", name)
}
