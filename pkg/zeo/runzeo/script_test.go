package runzeo

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/zeo/zeopack"
	"github.com/zdkit/zdkit/pkg/zeo/zeoup"
)

func TestMain(m *testing.M) {
	// The Go tests of ops_test.go run runzeo as a real process: the test
	// binary itself, told by this variable to be runzeo.
	if os.Getenv(runzeoChildEnv) == "1" {
		os.Unsetenv(runzeoChildEnv)
		os.Exit(Main(append([]string{"runzeo"}, os.Args[1:]...), os.Stdout, os.Stderr))
	}
	testscript.Main(pgsandbox.WithServer(m), map[string]func(){
		"runzeo":  func() { os.Exit(Main(os.Args, os.Stdout, os.Stderr)) },
		"zeoup":   func() { os.Exit(zeoup.Main(os.Args, os.Stdout, os.Stderr)) },
		"zeopack": func() { os.Exit(zeopack.Main(os.Args, os.Stdout, os.Stderr, nil)) },
	})
}

// The scripts run the real runzeo and zeoup as processes over real
// sockets; FREEPORT is a loopback port that was free at setup.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// monitor PATH: print what the monitor port sends.
			"monitor": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: monitor PATH")
				}
				c, err := net.Dial("unix", ts.MkAbs(args[0]))
				ts.Check(err)
				defer c.Close()
				b, err := io.ReadAll(c)
				ts.Check(err)
				ts.Stdout().Write(b)
			},
			// sig NAME PIDFILE: send a signal to the process whose pid
			// runzeo wrote (testscript's kill knows only INT and KILL).
			"sig": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sig NAME PIDFILE")
				}
				sigs := map[string]syscall.Signal{"TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "USR2": syscall.SIGUSR2, "INT": syscall.SIGINT}
				b, err := os.ReadFile(ts.MkAbs(args[1]))
				ts.Check(err)
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				ts.Check(err)
				ts.Check(syscall.Kill(pid, sigs[args[0]]))
			},
		},
		Setup: func(env *testscript.Env) error {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			env.Setenv("FREEPORT", strconv.Itoa(port))
			// Data.fs files written by Python's ZODB (pkg/filestorage's
			// fixtures, committed in the repository).
			fx, err := filepath.Abs("../../filestorage/testdata")
			if err != nil {
				return err
			}
			env.Setenv("FSFIXTURES", fx)
			return nil
		},
	})
}
