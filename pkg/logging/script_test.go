package logging

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// zdlog is a small program for the scripts: it loads a zdaemon config
// file, opens its <eventlog> and logs each argument "LEVEL:name:message"
// ("reopen" calls Reopen).  Running it as a real process is how the
// scripts see what really reaches the process's stdout and stderr.
func zdlog() int {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: zdlog CONFIG [LEVEL:NAME:MESSAGE | reopen]...")
		return 2
	}
	root, err := zconfig.ZDaemonSchema.LoadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var cfg Config
	if ev := root.Section("eventlog"); ev != nil {
		if cfg, err = FromNode(ev); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	l, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer l.Close()
	for _, a := range os.Args[2:] {
		if a == "reopen" {
			if err := l.Reopen(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			continue
		}
		parts := strings.SplitN(a, ":", 3)
		if len(parts) != 3 {
			fmt.Fprintf(os.Stderr, "bad argument %q\n", a)
			return 2
		}
		lv, err := ParseLevel(parts[0])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		l.Logger(parts[1]).Log(lv, parts[2])
	}
	return 0
}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"zdlog": func() { os.Exit(zdlog()) }})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
