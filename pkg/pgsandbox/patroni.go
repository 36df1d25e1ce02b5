package pgsandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPatroni is returned when patroni or etcd is not installed.
var ErrNoPatroni = errors.New("patroni and etcd not found (Debian packages patroni and etcd-server)")

// ClusterOptions shape a Patroni cluster.
type ClusterOptions struct {
	// Nodes is the number of PostgreSQL nodes (default 2).
	Nodes int
	// Synchronous turns on Patroni's synchronous_mode: a commit is
	// acknowledged only once a standby has it, and only that standby
	// may be promoted, so a failover loses no acknowledged commit.
	Synchronous bool
	// TTL is the leader lock's lifetime in seconds (default 5): a dead
	// primary is replaced about TTL seconds after it died.
	TTL int
}

// Cluster is etcd plus Patroni-managed PostgreSQL nodes with streaming
// replication, all on 127.0.0.1.
type Cluster struct {
	dir     string
	opts    ClusterOptions
	etcd    *proc
	EtcdURL string
	Nodes   []*Node
	bin     string
	patroni string
	cred    *syscall.Credential
	uid     int
	gid     int
	mu      sync.Mutex
}

// Node is one Patroni member and its PostgreSQL.
type Node struct {
	Name    string
	PGPort  int
	APIPort int
	dir     string
	conf    string
	patroni *proc
	c       *Cluster
}

// proc is a child process started in its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	logf *os.File
}

func startProc(cmd *exec.Cmd, logPath string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), logf: f}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	return p, nil
}

// kill sends sig to the process group and, for SIGKILL, waits for the
// leader to be reaped.
func (p *proc) kill(sig syscall.Signal, wait time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
	case <-time.After(wait):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// findPatroni returns the patroni and etcd programs.
func findPatroni() (string, string, error) {
	pat, err1 := exec.LookPath("patroni")
	etcd, err2 := exec.LookPath("etcd")
	if err1 != nil || err2 != nil {
		return "", "", ErrNoPatroni
	}
	return pat, etcd, nil
}

// StartCluster starts etcd and opts.Nodes Patroni nodes, and waits
// until one of them is the primary and every other one streams from it.
func StartCluster(opts ClusterOptions) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 2
	}
	if opts.TTL <= 0 {
		opts.TTL = 5
	}
	patroniBin, etcdBin, err := findPatroni()
	if err != nil {
		return nil, err
	}
	env, err := prepare("patroni-")
	if err != nil {
		return nil, err
	}
	dir := env.dir
	c := &Cluster{dir: dir, opts: opts, bin: env.bin, patroni: patroniBin, cred: env.cred, uid: env.uid, gid: env.gid}
	if err := os.Chmod(dir, 0o755); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.startEtcd(etcdBin); err != nil {
		c.Stop()
		return nil, err
	}
	for i := 0; i < opts.Nodes; i++ {
		n, err := c.newNode(fmt.Sprintf("pg%d", i+1))
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
		if err := n.Start(); err != nil {
			c.Stop()
			return nil, err
		}
		if i == 0 {
			// The first node bootstraps the cluster; the others clone it.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			_, err := c.WaitPrimary(ctx, nil)
			cancel()
			if err != nil {
				c.Stop()
				return nil, err
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := c.WaitReplicas(ctx, opts.Nodes-1); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startEtcd(bin string) error {
	cport, err := freePort()
	if err != nil {
		return err
	}
	pport, err := freePort()
	if err != nil {
		return err
	}
	c.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", cport)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pport)
	cmd := exec.Command(bin, "--name", "etcd1", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", c.EtcdURL, "--advertise-client-urls", c.EtcdURL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "etcd1="+peer, "--initial-cluster-state", "new",
		// Patroni 3.0's etcd3 driver speaks the v3 JSON gateway; the v2
		// API serves its "etcd" driver and etcdctl users alike.
		"--enable-v2=true", "--log-level", "warn")
	cmd.Dir = c.dir
	c.etcd, err = startProc(cmd, filepath.Join(c.dir, "etcd.log"))
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.EtcdURL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-c.etcd.done:
			log, _ := os.ReadFile(filepath.Join(c.dir, "etcd.log"))
			return fmt.Errorf("etcd exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd not healthy within 30 s: %v", err)
		}
	}
}

// newNode writes a node's Patroni configuration (JSON, which Patroni's
// YAML loader reads as well).
func (c *Cluster) newNode(name string) (*Node, error) {
	pgPort, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &Node{Name: name, PGPort: pgPort, APIPort: apiPort, dir: filepath.Join(c.dir, name), c: c}
	if err := os.Mkdir(n.dir, 0o700); err != nil {
		return nil, err
	}
	for _, d := range []string{n.dir, filepath.Join(n.dir, "sock")} {
		if d != n.dir {
			if err := os.Mkdir(d, 0o700); err != nil {
				return nil, err
			}
		}
		if c.cred != nil {
			if err := os.Chown(d, c.uid, c.gid); err != nil {
				return nil, err
			}
		}
	}
	ttl := c.opts.TTL
	conf := map[string]any{
		"scope":     "zdkit",
		"namespace": "/service/",
		"name":      name,
		"log":       map[string]any{"level": "INFO", "dir": n.dir},
		"restapi": map[string]any{
			"listen":          fmt.Sprintf("127.0.0.1:%d", apiPort),
			"connect_address": fmt.Sprintf("127.0.0.1:%d", apiPort),
		},
		"etcd3": map[string]any{"hosts": strings.TrimPrefix(c.EtcdURL, "http://")},
		"bootstrap": map[string]any{
			"dcs": map[string]any{
				// loop_wait + 2*retry_timeout <= ttl is Patroni's rule for
				// a leader that keeps its lock through a slow DCS; and
				// retry_timeout must be 2 or more, or Patroni 3.0.2 never
				// takes the lock (dcs/etcd3.py attempt_to_acquire_leader
				// gives up when less than 1 s of it is left after the
				// lease keepalive).
				"ttl": ttl, "loop_wait": 1, "retry_timeout": max(2, (ttl-1)/2),
				"maximum_lag_on_failover": 16 << 20,
				"synchronous_mode":        c.opts.Synchronous,
				"postgresql": map[string]any{
					"use_pg_rewind": true,
					"use_slots":     true,
					"parameters": map[string]any{
						"wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
						"max_wal_senders": 10, "max_replication_slots": 10, "wal_keep_size": "128MB",
						"max_connections": 100, "shared_buffers": "32MB",
						// A killed process, not a lost machine: the OS keeps
						// what was written, so fsync can stay off for speed.
						"fsync": "off", "full_page_writes": "on",
						"hot_standby_feedback": "on",
					},
				},
			},
			"initdb": []any{map[string]any{"encoding": "UTF8"}, map[string]any{"locale": "C"}, "no-sync"},
		},
		"postgresql": map[string]any{
			"listen":          fmt.Sprintf("127.0.0.1:%d", pgPort),
			"connect_address": fmt.Sprintf("127.0.0.1:%d", pgPort),
			"data_dir":        filepath.Join(n.dir, "data"),
			"bin_dir":         c.bin,
			"pgpass":          filepath.Join(n.dir, "pgpass"),
			"authentication": map[string]any{
				"superuser":   map[string]any{"username": "postgres", "password": "postgres"},
				"replication": map[string]any{"username": "replicator", "password": "replicator"},
				"rewind":      map[string]any{"username": "postgres", "password": "postgres"},
			},
			"parameters": map[string]any{"unix_socket_directories": filepath.Join(n.dir, "sock")},
			"pg_hba": []string{
				"local all all trust",
				"host replication replicator 127.0.0.1/32 trust",
				"host all all 127.0.0.1/32 trust",
			},
			"remove_data_directory_on_rewind_failure":     true,
			"remove_data_directory_on_diverged_timelines": true,
		},
	}
	text, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, err
	}
	n.conf = filepath.Join(n.dir, "patroni.yml")
	if err := os.WriteFile(n.conf, text, 0o644); err != nil {
		return nil, err
	}
	return n, nil
}

// Start starts (or restarts) the node's Patroni; a node that was a
// primary before rejoins as a replica (pg_rewind, or a new clone).
func (n *Node) Start() error {
	cmd := exec.Command(n.c.patroni, n.conf)
	cmd.Dir = n.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: n.c.cred}
	cmd.Env = append(os.Environ(), "HOME="+n.dir, "PGPASSFILE="+filepath.Join(n.dir, "pgpass"))
	p, err := startProc(cmd, filepath.Join(n.dir, "patroni.out"))
	if err != nil {
		return err
	}
	n.c.mu.Lock()
	n.patroni = p
	n.c.mu.Unlock()
	return nil
}

// postmasterPid reads the running postmaster's pid from its data
// directory, checking that the process is a postgres.
func (n *Node) postmasterPid() int {
	b, err := os.ReadFile(filepath.Join(n.dir, "data", "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "postgres") {
		return 0
	}
	return pid
}

// Kill is the loss of the node's machine: SIGKILL to Patroni and to
// every PostgreSQL process of the node (Patroni starts the postmaster
// in a session of its own). Killing only the postmaster would not do:
// Patroni, still holding the leader lock, would restart it in place.
func (n *Node) Kill() {
	n.c.mu.Lock()
	p := n.patroni
	n.c.mu.Unlock()
	pm := n.postmasterPid()
	p.kill(syscall.SIGKILL, 10*time.Second)
	if pm == 0 {
		pm = n.postmasterPid()
	}
	if pm != 0 {
		_ = syscall.Kill(-pm, syscall.SIGKILL)
		_ = syscall.Kill(pm, syscall.SIGKILL)
		for i := 0; i < 200 && syscall.Kill(pm, 0) == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Alive tells whether the node's Patroni is running.
func (n *Node) Alive() bool {
	n.c.mu.Lock()
	p := n.patroni
	n.c.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// DSN is a URL for database db on this node only.
func (n *Node) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.PGPort, db)
}

// IsPrimary asks the node's Patroni REST API whether it is the running
// primary (GET /primary answers 200 only there).
func (n *Node) IsPrimary() bool {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/primary", n.APIPort))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// DSN is the multi-host URL a front end uses: every node, the writable
// one chosen by target_session_attrs=read-write (libpq, and pgx alike).
func (c *Cluster) DSN(db string) string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", n.PGPort)
	}
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=2",
		strings.Join(hosts, ","), db)
}

// Primary returns the node that is the primary now, or nil.
func (c *Cluster) Primary() *Node {
	for _, n := range c.Nodes {
		if n.Alive() && n.IsPrimary() {
			return n
		}
	}
	return nil
}

// WaitPrimary waits for a primary other than not (nil: any) that
// accepts writes.
func (c *Cluster) WaitPrimary(ctx context.Context, not *Node) (*Node, error) {
	for {
		if p := c.Primary(); p != nil && p != not {
			if err := p.writable(ctx); err == nil {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no new primary: %w\n%s", ctx.Err(), c.Logs())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// writable checks the node accepts a write transaction.
func (n *Node) writable(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, n.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var ro string
	if err := conn.QueryRow(cctx, "SHOW transaction_read_only").Scan(&ro); err != nil {
		return err
	}
	if ro != "off" {
		return errors.New("read-only")
	}
	return nil
}

// WaitReplicas waits until the primary has want standbys streaming
// from it (and, in synchronous mode, one of them synchronous).
func (c *Cluster) WaitReplicas(ctx context.Context, want int) error {
	var last error
	for {
		p := c.Primary()
		if p == nil {
			last = errors.New("no primary")
		} else {
			var streaming, sync int
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			conn, err := pgx.Connect(cctx, p.DSN("postgres"))
			if err == nil {
				// Only Patroni's standbys (application_name is the member's
				// name): a clone in progress streams too, as pg_basebackup.
				names := make([]string, len(c.Nodes))
				for i, n := range c.Nodes {
					names[i] = n.Name
				}
				err = conn.QueryRow(cctx, `SELECT count(*) FILTER (WHERE state = 'streaming'),
					count(*) FILTER (WHERE state = 'streaming' AND sync_state = 'sync')
					FROM pg_stat_replication WHERE application_name = ANY($1)`, names).Scan(&streaming, &sync)
				conn.Close(context.Background())
			}
			cancel()
			switch {
			case err != nil:
				last = err
			case streaming >= want && (!c.opts.Synchronous || want == 0 || sync >= 1 && c.syncStandby() != nil):
				// In synchronous mode Patroni promotes only the standby
				// named in its /sync key, which it writes after the
				// standby shows as sync in pg_stat_replication.
				return nil
			default:
				last = fmt.Errorf("%d standbys streaming (%d synchronous), want %d", streaming, sync, want)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replication not ready: %v (%w)\n%s", last, ctx.Err(), c.Logs())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// syncStandby returns the node Patroni's REST API reports as the
// synchronous standby (GET /sync answers 200 there), or nil.
func (c *Cluster) syncStandby() *Node {
	cl := http.Client{Timeout: time.Second}
	for _, n := range c.Nodes {
		if !n.Alive() {
			continue
		}
		resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/sync", n.APIPort))
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			return n
		}
	}
	return nil
}

// CreateDatabase creates database name on the primary.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	p, err := c.WaitPrimary(ctx, nil)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	return err
}

// Logs returns the tail of every node's Patroni log, for failures.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		for _, f := range []string{"patroni.log", "patroni.out"} {
			data, err := os.ReadFile(filepath.Join(n.dir, f))
			if err != nil || len(data) == 0 {
				continue
			}
			if len(data) > 4000 {
				data = data[len(data)-3000:]
			}
			fmt.Fprintf(&b, "--- %s %s:\n%s\n", n.Name, f, data)
		}
	}
	return b.String()
}

// Stop kills every node and etcd and removes the cluster's directory.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Kill()
	}
	c.etcd.kill(syscall.SIGTERM, 5*time.Second)
	os.RemoveAll(c.dir)
}

// NewCluster starts a cluster stopped when t ends. Without patroni,
// etcd or PostgreSQL it skips t loudly, or fails it when CI=true.
func NewCluster(t testing.TB, opts ClusterOptions) *Cluster {
	t.Helper()
	c, err := StartCluster(opts)
	if err != nil {
		if errors.Is(err, ErrNoPatroni) || errors.Is(err, ErrNoPostgres) {
			Unavailable(t, "Patroni test: %v (install Debian's patroni, etcd-server and postgresql packages)", err)
		}
		t.Fatalf("Patroni test cluster: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}
