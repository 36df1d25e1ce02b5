package pgsandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres is returned when no PostgreSQL server binaries are found.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres) not found")

// binDirs are searched for initdb and postgres, newest Debian major
// first; PATH is tried before them.
var binDirs = []string{
	"/usr/lib/postgresql/18/bin", "/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin",
	"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/14/bin", "/usr/lib/postgresql/13/bin",
}

// Server is one running PostgreSQL cluster.
type Server struct {
	dir  string // temporary directory holding data/ and the socket
	Host string
	Port int
	cmd  *exec.Cmd
	logf *os.File
	n    atomic.Int64 // databases created

	done    chan struct{} // closed when postgres has exited
	waitErr error

	bin  string
	args []string
	cred *syscall.Credential
}

// findBin returns the directory holding both initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			d := filepath.Dir(real)
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				return d, nil
			}
		}
	}
	for _, d := range binDirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// credential returns the credential to run PostgreSQL with: the
// `postgres` user's when running as root, none otherwise.
// sandboxEnv is what every sandbox needs first: PostgreSQL's binaries,
// the user its processes run as, and a temporary directory.
type sandboxEnv struct {
	bin      string
	cred     *syscall.Credential
	uid, gid int
	dir      string
}

func prepare(prefix string) (sandboxEnv, error) {
	var e sandboxEnv
	var err error
	if e.bin, err = findBin(); err != nil {
		return e, err
	}
	if e.cred, e.uid, e.gid, err = credential(); err != nil {
		return e, err
	}
	e.dir, err = os.MkdirTemp("", prefix)
	return e, err
}

func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, 0, 0, fmt.Errorf("postgres user has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start creates and starts a cluster. settings are extra `-c name=value`
// server settings.
func Start(settings ...string) (*Server, error) {
	env, err := prepare("pgsandbox-")
	if err != nil {
		return nil, err
	}
	bin, cred, uid, gid, dir := env.bin, env.cred, env.uid, env.gid, env.dir
	s := &Server{dir: dir, Host: "127.0.0.1"}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	// The postgres user must reach the directory and own data/ and the
	// socket directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return fail(err)
		}
		if cred != nil {
			if err := os.Chown(d, uid, gid); err != nil {
				return fail(err)
			}
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %w\n%s", err, out))
	}
	s.Port, err = freePort()
	if err != nil {
		return fail(err)
	}
	args := []string{"-D", data, "-p", strconv.Itoa(s.Port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1",
		// A test cluster: durability is not under test here, speed is.
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB"}
	for _, kv := range settings {
		args = append(args, "-c", kv)
	}
	s.args, s.bin, s.cred = args, bin, cred
	s.logf, err = os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	if err := s.launch(); err != nil {
		s.logf.Close()
		return fail(err)
	}
	return s, nil
}

// launch starts postgres on the cluster and waits until it accepts
// connections.
func (s *Server) launch() error {
	s.cmd = exec.Command(filepath.Join(s.bin, "postgres"), s.args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true}
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	s.cmd.Dir = s.dir
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.done = make(chan struct{})
	go func() { s.waitErr = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start (%v):\n%s", s.waitErr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.halt()
			return fmt.Errorf("postgres did not accept connections within 30s: %w", err)
		}
	}
}

// halt stops the postmaster (fast shutdown; SIGKILL to its process
// group after 10 s) and waits for it.
func (s *Server) halt() {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	}
}

// Restart stops the server (every session is cut) and starts it again
// on the same data and port.
func (s *Server) Restart() error {
	s.halt()
	return s.launch()
}

// DSN is a URL for database db on this server, as the postgres user.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s:%d/%s?sslmode=disable", s.Host, s.Port, db)
}

// Pid is the postmaster's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop shuts the server down and removes its directory.
func (s *Server) Stop() {
	s.halt()
	s.logf.Close()
	os.RemoveAll(s.dir)
}

// CreateDatabase creates a new empty database and returns its name.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d", s.n.Add(1))
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, nil
}

// DropDatabase drops a database, disconnecting whoever still uses it.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	err error
}

// Runner is what Main runs: *testing.M, or a wrapper of it.
type Runner interface{ Run() int }

// Main runs a test binary's tests and then stops the shared server, if
// one was started. Call it from TestMain: os.Exit(pgsandbox.Main(m)).
func Main(m Runner) int {
	code := m.Run()
	shared.mu.Lock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv = nil
	}
	shared.mu.Unlock()
	return code
}

// Unavailable ends a test that cannot get what it needs from this
// machine (PostgreSQL, Patroni, root, a tmpfs): a loud skip on a
// developer's machine, a failure when CI=true, since CI installs
// everything and must run every test.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true: this test must run in CI)", msg)
	}
	tb.Skipf("SKIPPING: %s (CI=true makes this a failure)", msg)
}

// Shared returns the package's shared server, starting it on first use.
// Without binaries it skips t loudly, or fails it when CI=true.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = Start()
	}
	if shared.err != nil {
		if errors.Is(shared.err, ErrNoPostgres) {
			Unavailable(t, "PostgreSQL test: %v (install Debian's postgresql package)", shared.err)
		}
		t.Fatalf("PostgreSQL test server: %v", shared.err)
	}
	return shared.srv
}

// WithServer wraps a test runner so that the shared server stops after
// the tests (for TestMains that hand m to another runner, such as
// testscript.Main).
func WithServer(m Runner) Runner { return runnerFunc(func() int { return Main(m) }) }

type runnerFunc func() int

func (f runnerFunc) Run() int { return f() }

// Private starts a server of t's own (for tests that restart or stop
// it), stopped when t ends. Skips like Shared.
func Private(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		if errors.Is(err, ErrNoPostgres) {
			Unavailable(t, "PostgreSQL test: %v (install Debian's postgresql package)", err)
		}
		t.Fatalf("PostgreSQL test server: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// NewDatabase creates a fresh database on the shared server, dropped
// when t ends, and returns a DSN for it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name, err := s.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.DropDatabase(ctx, name); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return s.DSN(name)
}
