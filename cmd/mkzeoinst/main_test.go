package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zdkit/zdkit/pkg/instance"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// zconfigcheck SCHEMA FILE loads FILE with pkg/zconfig's zdaemon or ZEO
// schema and prints the typed values the instance depends on, so the
// scripts check that what mkzeoinst writes is what zdctl, zdrun and
// runzeo will read.
func zconfigcheck() int {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: zconfigcheck zdaemon|zeo FILE")
		return 2
	}
	schema := zconfig.ZDaemonSchema
	if os.Args[1] == "zeo" {
		schema = zconfig.ZEOSchema
	}
	root, err := schema.LoadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if r := root.Section("runner"); r != nil {
		fmt.Printf("program=%q\n", r.Strings("program"))
		for _, k := range []string{"socket-name", "directory", "zdrun", "logfile", "transcript"} {
			fmt.Printf("%s=%s\n", k, r.String(k))
		}
		fmt.Printf("daemon=%v forever=%v backoff-limit=%d exit-codes=%v default-to-interactive=%v\n",
			r.Bool("daemon"), r.Bool("forever"), r.Int("backoff-limit"), r.Ints("exit-codes"), r.Bool("default-to-interactive"))
	}
	if z := root.Section("zeo"); z != nil {
		a := z.Address("address")
		fmt.Printf("address=%s %s read-only=%v invalidation-queue-size=%d\n", a.Network, a.String(), z.Bool("read-only"), z.Int("invalidation-queue-size"))
		for _, s := range root.Storages() {
			fmt.Printf("storage %s %s path=%s\n", s.Name, s.Type, s.String("path"))
		}
	}
	for _, ev := range root.Sections("eventlog") {
		for _, lf := range ev.Sections("logfile") {
			fmt.Printf("eventlog level=%d logfile=%s\n", ev.Int("level"), lf.String("path"))
		}
	}
	return 0
}

// fmode FILE prints the permission bits in octal.
func fmode() int {
	fi, err := os.Stat(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%o\n", fi.Mode().Perm())
	return 0
}

func TestMain(m *testing.M) {
	// The scripts expect the usual umask (0755 scripts, 0644 files).
	syscall.Umask(0o022)
	testscript.Main(m, map[string]func(){
		"mkzeoinst":    func() { os.Exit(instance.Main(os.Args, os.Stdout, os.Stderr)) },
		"zconfigcheck": func() { os.Exit(zconfigcheck()) },
		"fmode":        func() { os.Exit(fmode()) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Fake zdkit programs: mkzeoinst only needs executable
			// files to point the configuration at.
			bin := env.WorkDir + "/fakebin"
			if err := os.Mkdir(bin, 0o755); err != nil {
				return err
			}
			for _, name := range instance.ProgramNames {
				if err := os.WriteFile(bin+"/"+name, []byte("#!/bin/sh\necho fake "+name+" \"$@\"\n"), 0o755); err != nil {
					return err
				}
			}
			env.Setenv("FAKEBIN", bin)
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("ORIGPATH", strings.TrimPrefix(env.Getenv("PATH"), bin+string(os.PathListSeparator)))
			return nil
		},
	})
}
