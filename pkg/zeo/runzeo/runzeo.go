package runzeo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Version is what --version prints. runzeo prints the zdaemon version
// (a quirk of ZEO 6.0's runzeo, whose --version comes from zdaemon's options).
var Version = "5.2.1+zdkit" // the same string zdctl/zdrun print (pkg/runner.Version)

// OpenFileStorage opens a <filestorage> section or -f path. It is a
// variable so that the FileStorage adapter can be plugged in without this
// package depending on it; nil means FileStorage is not available.
var OpenFileStorage func(cfg FileStorageConfig) (storage.Storage, error)

// FileStorageConfig is a <filestorage> section (ZODB 6.3's component.xml).
type FileStorageConfig struct {
	Path        string
	BlobDir     string
	Create      bool
	ReadOnly    bool
	Quota       int64
	PackGC      bool
	PackKeepOld bool
	Packer      string // a Python dotted name (ZODB's packer key): refused
}

// usage is ZEO's runzeo docstring, printed as zdoptions' help() does
// (verbatim, %s = the program name), followed by zdkit's additions.
const usage = `Start the ZEO storage server.

Usage: %s [-C URL] [-a ADDRESS] [-f FILENAME] [-h]

Options:
-C/--configure URL -- configuration file or URL
-a/--address ADDRESS -- server address of the form PORT, HOST:PORT, or PATH
                        (a PATH must contain at least one "/")
-f/--filename FILENAME -- filename for FileStorage
-t/--timeout TIMEOUT -- transaction timeout in seconds (default no timeout)
-h/--help -- print this usage message and exit
--pid-file PATH -- relative path to output file containing this process's pid;
                   default $(INSTANCE_HOME)/var/ZEO.pid but only if envar
                   INSTANCE_HOME is defined

Unless -C is specified, -a and -f are required.

Also (zdkit):
-X section/key=value -- override a configuration key (with -C)
--metrics-address ADDRESS -- serve /metrics, /status and /debug/pprof/ over
                        HTTP here (the metrics-address key of <zeo>)
--cpuprofile FILE -- write a CPU profile (pprof format) to FILE until exit
--test -- open the storages and sockets, then exit
--version -- print version information and exit
`

func parser() *getopt.Parser {
	return &getopt.Parser{Options: []getopt.Option{
		{Name: "configfile", Short: 'C', Long: "configure", HasArg: true},
		{Name: "address", Short: 'a', Long: "address", HasArg: true},
		{Name: "filename", Short: 'f', Long: "filename", HasArg: true, Multi: true},
		{Name: "timeout", Short: 't', Long: "timeout", HasArg: true, Convert: func(s string) (any, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < 0 {
				return nil, fmt.Errorf("could not convert string to float: %s", pyrepr.Str(s))
			}
			return f, nil
		}},
		{Name: "pidfile", Long: "pid-file", HasArg: true},
		{Name: "overrides", Short: 'X', HasArg: true, Multi: true},
		{Name: "metrics", Long: "metrics-address", HasArg: true},
		{Name: "cpuprofile", Long: "cpuprofile", HasArg: true},
		{Name: "test", Long: "test"},
		{Name: "help", Short: 'h', Long: "help", Stop: true},
		{Name: "version", Long: "version", Stop: true},
	}}
}

// settings is everything runzeo needs, from the file and the command line.
type settings struct {
	address     zconfig.Address
	addressText string
	readOnly    bool
	invqSize    int
	invAge      time.Duration
	timeout     time.Duration
	timeoutText string // -t as Python's float repr, for the timeout log line
	pidFile     string
	msgpack     bool
	msgpackSet  bool // <zeo> has a msgpack key
	monitor     *zconfig.Address
	metrics     *zconfig.Address // HTTP: /metrics, /status, /debug/pprof/
	metricsText string
	cpuProfile  string
	tls         *tls.Config
	storages    []storageSpec
	// The <zeo> limits (docs/runzeo.md), in server.Options's terms (0: the server's
	// default, negative: none).
	maxFrame         int
	maxPendingStores int
	maxConnections   int
	handshakeTimeout time.Duration
	logCfg           logging.Config
	hasEventlog      bool
}

type storageSpec struct {
	name string
	kind string // "FileStorage" / "MappingStorage"
	open func() (storage.Storage, error)
}

// Main runs runzeo and returns its exit status.
func Main(argv []string, stdout, stderr io.Writer) int {
	prog := filepath.Base(argv[0])
	res, err := parser().Parse(argv[1:])
	if err != nil {
		return usageError(stderr, prog, err)
	}
	switch res.Stopped {
	case "-h", "--help":
		fmt.Fprintf(stdout, usage, prog)
		return 0
	case "--version":
		fmt.Fprintln(stdout, Version)
		return 0
	}
	if len(res.Args) > 0 {
		return usageError(stderr, prog, getopt.Usagef("positional arguments are not supported: %s", pyrepr.List(res.Args)))
	}
	s, err := configure(res)
	if err != nil {
		return usageError(stderr, prog, err)
	}
	return run(s, res.Given("test"), stdout, stderr)
}

func usageError(w io.Writer, prog string, err error) int {
	var ue *getopt.UsageError
	if errors.As(err, &ue) {
		ue.Report(w, prog)
	} else {
		fmt.Fprintf(w, "Error: %v\nFor help, use %s -h\n", err, prog)
	}
	return 2
}

func configure(res *getopt.Result) (*settings, error) {
	s := &settings{invqSize: 100, logCfg: logging.DefaultConfig()}
	var fileStorages []string
	fileStorages = append(fileStorages, res.Multi["filename"]...)
	if cf, ok := res.Values["configfile"].(string); ok {
		cfg, err := zconfig.ZEOSchema.LoadFile(cf, res.Multi["overrides"]...)
		if err != nil {
			return nil, err
		}
		if err := s.fromConfig(cfg); err != nil {
			return nil, err
		}
	} else if len(res.Multi["overrides"]) > 0 {
		return nil, getopt.Usagef("-X requires -C")
	}
	if a, ok := res.Values["address"].(string); ok {
		addr, err := zconfig.ParseAddress(a)
		if err != nil {
			return nil, getopt.Usagef("invalid value for -a %s: %v", pyrepr.Str(a), err)
		}
		s.address, s.addressText = addr, a
	}
	for _, f := range fileStorages {
		s.storages = append(s.storages, fileStorageSpec(strconv.Itoa(len(s.storages)+1), FileStorageConfig{Path: f, PackGC: true, PackKeepOld: true}))
	}
	if a, ok := res.Values["metrics"].(string); ok {
		addr, err := zconfig.ParseAddress(a)
		if err != nil {
			return nil, getopt.Usagef("invalid value for --metrics-address %s: %v", pyrepr.Str(a), err)
		}
		s.metrics, s.metricsText = &addr, a
	}
	if p, ok := res.Values["cpuprofile"].(string); ok {
		s.cpuProfile = p
	}
	if t, ok := res.Values["timeout"].(float64); ok {
		s.timeout = time.Duration(t * float64(time.Second))
		// ZEO's -t is a float option, so its log line says "after 2.0
		// seconds"; the config key is an integer and prints as "2".
		s.timeoutText = server.PyFloatRepr(t)
	}
	if p, ok := res.Values["pidfile"].(string); ok {
		s.pidFile = p
	}
	if s.addressText == "" {
		return nil, getopt.Usagef("no server address specified; use -a or -C")
	}
	if len(s.storages) == 0 {
		return nil, getopt.Usagef("no storages specified; use -f or -C")
	}
	// ZEO's runzeo.create_server passes os.environ.get('ZEO_MSGPACK')
	// whenever options.msgpack is not a bool: with no msgpack key in
	// <zeo>, and also without any configuration file (-a/-f only). Any
	// non-empty value turns msgpack on, as in Python ("0" included).
	if !s.msgpackSet {
		s.msgpack = os.Getenv("ZEO_MSGPACK") != ""
	}
	if s.pidFile == "" {
		if home := os.Getenv("INSTANCE_HOME"); home != "" {
			s.pidFile = filepath.Join(home, "var", "ZEO.pid")
		}
	}
	return s, nil
}

func (s *settings) fromConfig(cfg *zconfig.Node) error {
	z := cfg.Section("zeo")
	if raw, ok := z.Raw("address"); ok {
		s.address, s.addressText = z.Address("address"), raw
	}
	s.readOnly = z.Bool("read-only")
	if n := z.Int("invalidation-queue-size"); n > 0 {
		s.invqSize = n
	}
	if z.Has("invalidation-age") {
		s.invAge = time.Duration(z.Float("invalidation-age") * float64(time.Second))
	}
	if z.Has("transaction-timeout") {
		s.timeout = time.Duration(z.Int("transaction-timeout")) * time.Second
		s.timeoutText = ""
	}
	s.pidFile = z.String("pid-filename")
	if z.Has("msgpack") {
		s.msgpack, s.msgpackSet = z.Bool("msgpack"), true
	}
	if z.Has("monitor-address") {
		a := z.Address("monitor-address")
		s.monitor = &a
	}
	if raw, ok := z.Raw("metrics-address"); ok {
		a := z.Address("metrics-address")
		s.metrics, s.metricsText = &a, raw
	}
	if err := s.limitsFromConfig(z); err != nil {
		return err
	}
	if ssl := z.Section("ssl"); ssl != nil {
		tc, err := tlsConfig(ssl)
		if err != nil {
			return err
		}
		s.tls = tc
	}
	for _, st := range cfg.Storages() {
		switch st.Type {
		case "mappingstorage":
			name, title := st.String("name"), st.Name
			ro := false
			s.storages = append(s.storages, storageSpec{name: title, kind: "MappingStorage", open: func() (storage.Storage, error) {
				return mappingstorage.New(name, ro), nil
			}})
		case "filestorage":
			s.storages = append(s.storages, fileStorageSpec(st.Name, FileStorageConfig{
				Path: st.String("path"), BlobDir: st.String("blob-dir"), Create: st.Bool("create"),
				ReadOnly: st.Bool("read-only"), Quota: st.Bytes("quota"),
				PackGC: st.Bool("pack-gc"), PackKeepOld: st.Bool("pack-keep-old"), Packer: st.String("packer"),
			}))
		case "blobstorage":
			// <blobstorage> adds a blob directory to the storage inside it;
			// only a <filestorage> base is supported.
			inner := st.Storages()
			if len(inner) != 1 || inner[0].Type != "filestorage" {
				return fmt.Errorf("%s: <blobstorage> needs exactly one <filestorage> inside", st.Pos)
			}
			fs := inner[0]
			s.storages = append(s.storages, fileStorageSpec(st.Name, FileStorageConfig{
				Path: fs.String("path"), BlobDir: st.String("blob-dir"), Create: fs.Bool("create"),
				ReadOnly: fs.Bool("read-only"), Quota: fs.Bytes("quota"),
				PackGC: fs.Bool("pack-gc"), PackKeepOld: fs.Bool("pack-keep-old"), Packer: fs.String("packer"),
			}))
		case "relstorage":
			spec, err := relStorageSpec(st)
			if err != nil {
				return err
			}
			s.storages = append(s.storages, spec)
		case "zeoclient":
			spec, err := zeoClientSpec(st)
			if err != nil {
				return err
			}
			s.storages = append(s.storages, spec)
		default:
			return fmt.Errorf("%s: storage type <%s> is not supported by this runzeo (supported: filestorage, mappingstorage, blobstorage around a filestorage, zeoclient, relstorage with postgresql)", st.Pos, st.Type)
		}
	}
	if ev := cfg.Section("eventlog"); ev != nil {
		lc, err := logging.FromNode(ev)
		if err != nil {
			return err
		}
		s.logCfg, s.hasEventlog = lc, true
	}
	return nil
}

func fileStorageSpec(name string, fc FileStorageConfig) storageSpec {
	return storageSpec{name: name, kind: "FileStorage", open: func() (storage.Storage, error) {
		if OpenFileStorage == nil {
			return nil, errors.New("filestorage not yet available in this build")
		}
		return OpenFileStorage(fc)
	}}
}

// tlsConfig builds the server side of <ssl> (ZEO 6.0 ZEO/sslconfig.py,
// server_ssl):
// client certificates are required and must chain to `authenticate`.
func tlsConfig(n *zconfig.Node) (*tls.Config, error) {
	if n.Has("password-function") {
		return nil, fmt.Errorf("%s: password-function names a Python callable; use an unencrypted key file", n.Pos)
	}
	certFile := n.String("certificate")
	keyFile := n.String("key")
	if keyFile == "" {
		keyFile = certFile
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: loading certificate %s: %w", n.Pos, pyrepr.Str(certFile), err)
	}
	auth := n.String("authenticate")
	pool := x509.NewCertPool()
	if auth != "DYNAMIC" {
		fi, err := os.Stat(auth)
		if err != nil {
			return nil, fmt.Errorf("%s: authenticate %s: %w", n.Pos, pyrepr.Str(auth), err)
		}
		files := []string{auth}
		if fi.IsDir() {
			ents, err := os.ReadDir(auth)
			if err != nil {
				return nil, err
			}
			files = files[:0]
			for _, e := range ents {
				if !e.IsDir() {
					files = append(files, filepath.Join(auth, e.Name()))
				}
			}
		}
		for _, f := range files {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			pool.AppendCertsFromPEM(pem)
		}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

func run(s *settings, testing bool, stdout, stderr io.Writer) int {
	log, err := logging.Open(s.logCfg)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	defer log.Close()
	pid := os.Getpid()
	rz := log.Logger("ZEO.runzeo")
	info := func(f string, a ...any) { rz.Infof("(%d) "+f, append([]any{pid}, a...)...) }

	// --cpuprofile: from before the storages open (so start-up,
	// index reading included, is in it) until runzeo returns.
	if s.cpuProfile != "" {
		stop, err := startCPUProfile(s.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "Error: --cpuprofile: %v\nFor help, use runzeo -h\n", err)
			return 2
		}
		defer func() {
			if err := stop(); err != nil {
				rz.Errorf("(%d) writing CPU profile %s: %v", pid, pyrepr.Str(s.cpuProfile), err)
			}
		}()
	}

	// check_socket: refuse an address something already answers on.
	if s.address.Network != "unix" && s.address.HasPort && s.address.Port != 0 {
		host := s.address.Host
		if host == "" {
			host = "localhost"
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(s.address.Port)), time.Second); err == nil {
			c.Close()
			fmt.Fprintf(stderr, "Error: address %s already in use\nFor help, use runzeo -h\n", s.addressText)
			return 2
		}
	}
	if s.address.Network == "unix" {
		if fi, err := os.Lstat(s.address.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			// Connect before unlinking: a socket something answers on
			// belongs to a live server, and unlinking it would orphan
			// that server while a second one took its clients (ZEO
			// inherits that unlink from asyncio's create_unix_server;
			// docs/reliability.md finding 3). Only a socket nobody
			// answers on (a server killed with SIGKILL) is stale.
			if c, err := net.DialTimeout("unix", s.address.Path, time.Second); err == nil {
				c.Close()
				fmt.Fprintf(stderr, "Error: address %s already in use\nFor help, use runzeo -h\n", s.addressText)
				return 2
			}
			os.Remove(s.address.Path)
		}
	}
	// The pid file is written only when the server is not read-only (a
	// quirk kept from ZEO's runzeo).
	pidWritten := false
	if s.pidFile != "" && !s.readOnly {
		if err := os.WriteFile(s.pidFile, []byte(fmt.Sprintf("%d\n", pid)), 0o644); err != nil {
			rz.Errorf("(%d) can't create pid file %s: %v", pid, pyrepr.Str(s.pidFile), err)
		} else {
			pidWritten = true
			info("created PID file %s", pyrepr.Str(s.pidFile))
		}
	}
	defer func() {
		if pidWritten {
			os.Remove(s.pidFile)
			info("removed PID file %s", pyrepr.Str(s.pidFile))
		}
	}()

	// Storages are opened, listed and closed in configuration order, as
	// ZEO's StorageServer does.
	storages := map[string]storage.Storage{}
	var order []string
	for _, sp := range s.storages {
		order = append(order, sp.name)
	}
	closeAll := func() {
		for _, name := range order {
			if st, ok := storages[name]; ok {
				st.Close()
			}
		}
	}
	for _, sp := range s.storages {
		info("opening storage %s using %s", pyrepr.Str(sp.name), sp.kind)
		st, err := sp.open()
		if err != nil {
			rz.Criticalf("(%d) opening storage %s: %v", pid, pyrepr.Str(sp.name), err)
			fmt.Fprintf(stderr, "Error: opening storage %s: %v\n", pyrepr.Str(sp.name), err)
			closeAll()
			return 1
		}
		storages[sp.name] = st
	}
	srvLog := func(level server.Level, name, msg string) {
		log.Logger(name).Log(logging.Level(level), msg)
	}
	srv, err := server.New(storages, server.Options{
		ReadOnly: s.readOnly, InvalidationQueueSize: s.invqSize, InvalidationAge: s.invAge, TransactionTimeout: s.timeout,
		TransactionTimeoutText: s.timeoutText, StorageOrder: order,
		Msgpack: s.msgpack, TLS: s.tls, Log: srvLog,
		MaxFrame: s.maxFrame, MaxPendingStores: s.maxPendingStores, MaxConnections: s.maxConnections,
		HandshakeTimeout: s.handshakeTimeout,
	})
	if err != nil {
		closeAll()
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	l, err := listen(s.address)
	if err != nil {
		srv.Close()
		fmt.Fprintf(stderr, "Error: can't listen on %s: %v\n", s.addressText, err)
		return 1
	}
	log.Logger("ZEO.asyncio.server").Infof("listening on %s", pyAddr(s.address))
	if s.monitor != nil {
		ml, err := listen(*s.monitor)
		if err != nil {
			srv.Close()
			fmt.Fprintf(stderr, "Error: can't listen on monitor address: %v\n", err)
			return 1
		}
		go srv.ServeMonitor(ml, Version)
	}
	var ops *opsServer
	if s.metrics != nil {
		ol, err := listen(*s.metrics)
		if err != nil {
			srv.Close()
			l.Close()
			fmt.Fprintf(stderr, "Error: can't listen on metrics address %s: %v\n", s.metricsText, err)
			return 1
		}
		if s.metrics.Network == "unix" {
			defer os.Remove(s.metrics.Path)
		}
		reg := newRegistry(srv, storages, time.Now())
		ops = startOps(ol, opsHandler(srv, reg), func(err error) {
			rz.Errorf("(%d) metrics address stopped: %v", pid, err)
		})
		// The address actually bound (a port of 0 picks one).
		where := ol.Addr().String()
		if ol.Addr().Network() == "unix" {
			where = "unix:" + where
		}
		info("serving metrics on http://%s/metrics", where)
	}
	defer ops.close()
	if testing {
		fmt.Fprintln(stdout, "testing exit immediately")
		ops.close()
		srv.Close()
		l.Close()
		return 0
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, handledSignals...)
	signal.Ignore(syscall.SIGXFSZ)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	// Readiness (sd_notify READY=1): the ZEO socket (and monitor and metrics
	// ones) are bound, so clients connecting from now on are served.
	notify := notifySocket()
	if err := notify.send(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving on %s\n", pid, s.addressText)); err != nil {
		rz.Warningf("(%d) NOTIFY_SOCKET: %v", pid, err)
	}
	stopping := func() {
		if err := notify.send("STOPPING=1\nSTATUS=stopping\n"); err != nil {
			rz.Warningf("(%d) NOTIFY_SOCKET: %v", pid, err)
		}
	}
	code := 0
loop:
	for {
		select {
		case sig := <-sigs:
			switch sig {
			case syscall.SIGTERM:
				info("terminated by SIGTERM")
				stopping()
				break loop
			case syscall.SIGINT:
				info("terminated by SIGINT")
				stopping()
				break loop
			case syscall.SIGHUP:
				// Exit 1 so that zdrun restarts us (ZEO's runzeo).
				info("restarted by SIGHUP")
				stopping()
				code = 1
				break loop
			case syscall.SIGUSR2:
				if !s.hasEventlog {
					rz.Warningf("(%d) received SIGUSR2, but it was not handled!", pid)
				} else if err := log.Reopen(); err != nil {
					rz.Errorf("(%d) reopening log files: %v", pid, err)
				} else {
					info("Log files reopened successfully")
				}
			}
		case err := <-served:
			if err != nil {
				rz.Criticalf("(%d) server stopped: %v", pid, err)
				code = 1
			}
			stopping()
			break loop
		}
	}
	// Scrapes end before the storages close: a scrape reads them.
	ops.close()
	srv.Close()
	if s.address.Network == "unix" {
		os.Remove(s.address.Path)
	}
	return code
}

// handledSignals are the signals runzeo acts on (ZEO's runzeo: TERM and
// INT stop, HUP stops with status 1 for zdrun to restart, USR2 reopens
// the logs); docs/runzeo.md lists them (TestDocsRunzeo).
var handledSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2}

func listen(a zconfig.Address) (net.Listener, error) {
	if a.Network == "unix" {
		l, err := net.Listen("unix", a.Path)
		if err != nil {
			return nil, err
		}
		// Tight permissions on the socket: only the owner may connect.
		os.Chmod(a.Path, 0o600)
		return l, nil
	}
	return net.Listen("tcp", a.String())
}

// pyAddr renders the configured address the way ZEO logs it:
// ('127.0.0.1', 8100) or the socket path.
func pyAddr(a zconfig.Address) string {
	if a.Network == "unix" {
		return pyrepr.Str(a.Path)
	}
	return fmt.Sprintf("(%s, %d)", pyrepr.Str(a.Host), a.Port)
}

// limitsFromConfig reads <zeo>'s limit keys (docs/runzeo.md).
// In the file 0 means "no limit"; a negative value is refused with the
// key's position.
func (s *settings) limitsFromConfig(z *zconfig.Node) error {
	neg := func(key string) error {
		v, _ := z.Value(key)
		return fmt.Errorf("%s: %s must not be negative, got %s", v.Pos, key, pyrepr.Str(v.Raw))
	}
	if z.Has("max-frame") {
		n := z.Bytes("max-frame")
		switch {
		case n < 0:
			return neg("max-frame")
		case n > math.MaxUint32:
			// A frame's length word is 32 bits.
			v, _ := z.Value("max-frame")
			return fmt.Errorf("%s: max-frame %s is beyond the 4 GiB a frame header can announce", v.Pos, pyrepr.Str(v.Raw))
		case n == 0:
			s.maxFrame = math.MaxUint32
		default:
			s.maxFrame = int(n)
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"max-pending-stores", &s.maxPendingStores}, {"max-connections", &s.maxConnections}}
	for _, k := range ints {
		if !z.Has(k.key) {
			continue
		}
		n := z.Int(k.key)
		if n < 0 {
			return neg(k.key)
		}
		*k.dst = n
		if n == 0 {
			*k.dst = -1
		}
	}
	if z.Has("handshake-timeout") {
		d := z.Duration("handshake-timeout")
		if d < 0 {
			return neg("handshake-timeout")
		}
		s.handshakeTimeout = d
		if d == 0 {
			s.handshakeTimeout = -1
		}
	}
	return nil
}
