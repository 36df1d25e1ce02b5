package stress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// runzeoBin is cmd/runzeo built once for this test binary.
var runzeoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zdkit-stress-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runzeoBin = filepath.Join(dir, "runzeo")
	// go test puts GOROOT/bin first on the test's PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "stress: no go command to build runzeo:", err)
		os.Exit(1)
	}
	args := []string{"build", "-o", runzeoBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(gobin, append(args, "github.com/zdkit/zdkit/cmd/runzeo")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building runzeo: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// stressMode reports whether the long versions run (make stress).
func stressMode() bool { return os.Getenv("ZDKIT_STRESS") != "" }

// report logs a figure line and appends it to $ZDKIT_STRESS_REPORT, so
// that `make stress` can print the figures even though go test hides
// the output of passing tests.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Log(line)
	if p := os.Getenv("ZDKIT_STRESS_REPORT"); p != "" {
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeAddr returns a loopback TCP address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// zeoProc is one runzeo process.
type zeoProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	out    *syncBuffer
	done   chan struct{}
	status error
}

// startZEO writes conf to dir/zeo.conf and starts runzeo -C on it, then
// waits until the server answers with its protocol frame. conf may use
// %ADDR% for addr.
func startZEO(t *testing.T, dir, addr, conf string) *zeoProc {
	t.Helper()
	p, err := tryStartZEO(t, dir, addr, conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryStartZEO is startZEO returning its error; ready, when not nil,
// replaces the check that the server answers (TLS servers).
func tryStartZEO(t *testing.T, dir, addr, conf string, ready func() bool) (*zeoProc, error) {
	t.Helper()
	cf := filepath.Join(dir, "zeo.conf")
	if err := os.WriteFile(cf, []byte(strings.ReplaceAll(conf, "%ADDR%", addr)), 0o644); err != nil {
		return nil, err
	}
	p := &zeoProc{t: t, addr: addr, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(runzeoBin, "-C", cf)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Dir = dir
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.status = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		// A race-enabled runzeo reports data races on stderr.
		if out := p.out.String(); strings.Contains(out, "WARNING: DATA RACE") {
			t.Errorf("runzeo reported a data race:\n%s", out)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("runzeo exited before serving (%v):\n%s", p.status, p.out.String())
		default:
		}
		if ready == nil {
			ready = p.answers
		}
		// Our process must have bound the address itself: a free port
		// picked by freeAddr can be taken meanwhile by another test
		// binary's server, which would then answer in its place.
		if strings.Contains(p.out.String(), "listening on") && ready() {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("runzeo did not answer on %s within 20 s:\n%s", addr, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server sends its protocol frame.
func (p *zeoProc) answers() bool {
	network, a := client.Network(p.addr)
	nc, err := net.DialTimeout(network, a, time.Second)
	if err != nil {
		return false
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	id, err := wire.ReadFrame(nc, 64)
	if err != nil {
		return false
	}
	_, err = wire.ParseProtocolID(id)
	return err == nil
}

// kill sends SIGKILL (if still running) and waits for the exit.
func (p *zeoProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits (SIGKILL after 15 s); runzeo must exit 0.
func (p *zeoProc) stop() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("runzeo had already exited (%v):\n%s", p.status, p.out.String())
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.kill()
		p.t.Fatalf("runzeo ignored SIGTERM for 15 s:\n%s", p.out.String())
	}
	if p.status != nil {
		p.t.Fatalf("runzeo exit after SIGTERM: %v\n%s", p.status, p.out.String())
	}
}

// alive reports whether the process still runs.
func (p *zeoProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// dial connects a Go client and closes it in cleanup.
func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	c, err := tryDial(addr, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tryDial(addr string, opts client.Options) (*client.Client, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	return client.Dial(context.Background(), []string{addr}, opts)
}

// fsConf is a zeo.conf serving one FileStorage.
func fsConf(path, extraZeo, extraFS string) string {
	return fmt.Sprintf(`<zeo>
  address %%ADDR%%
%s
</zeo>
<filestorage 1>
  path %s
%s
</filestorage>
`, extraZeo, path, extraFS)
}

// record makes a ZODB data record (class pickle + state pickle) whose
// state is payload, so that pack's reference scan reads it as ZODB's
// would.
func record(t testing.TB, payload string) []byte {
	t.Helper()
	// The class pickle ZODB writes: (GLOBAL persistent.mapping
	// PersistentMapping, None) as a protocol-3 TUPLE2.
	a := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nN\x86.")
	b, err := wire.EncodePickle([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return append(a, b...)
}

// errConflicts is commit's error when vote answered conflict dicts.
var errConflicts = errors.New("unexpected conflicts")

// commit writes one transaction storing data for oids (serials are the
// tids they are based on) and returns the new tid.
func commit(c *client.Client, oids []storage.OID, serials []tid.TID, data [][]byte) (tid.TID, error) {
	tx, err := c.Begin("stress", "commit", nil)
	if err != nil {
		return 0, err
	}
	for i, o := range oids {
		if err := tx.Store(o, serials[i], data[i]); err != nil {
			return 0, err
		}
	}
	conflicts, _, err := tx.Vote()
	if err != nil {
		tx.Abort()
		return 0, err
	}
	if len(conflicts) > 0 {
		tx.Abort()
		return 0, fmt.Errorf("%w %+v", errConflicts, conflicts)
	}
	return tx.Finish()
}

// fstest runs the filestorage check (cmd/fstest's code, with the pointer
// checks) on a data file.
func fstest(t *testing.T, path string) {
	t.Helper()
	var out bytes.Buffer
	if err := filestorage.Check(path, filestorage.CheckOptions{Out: &out, Pointers: true}); err != nil {
		t.Fatalf("fstest %s: %v\n%s", path, err, out.String())
	}
}
