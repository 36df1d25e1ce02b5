package runzeo

import (
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/zdkit/zdkit/pkg/metrics"
	"github.com/zdkit/zdkit/pkg/metrics/metricshttp"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// groupStater is what a storage with group commit reports
// (fsstorage.Storage.GroupStats): syncs done and transactions they made
// durable. Read through an interface so that runzeo needs no new hook in
// the server.
type groupStater interface {
	GroupStats() (groups, txns int64)
}

// newRegistry builds runzeo's metrics (docs/runzeo.md). Every value is read at
// scrape time from what the server already keeps for server_status (the
// same counters the ruok probe and the 2003 monitor report show), so the
// serving paths pay nothing for them. The latency histograms and the
// fsync time are the exception: durations cannot be read back later, so
// the server hands each one to a server.Observer (latencyObserver) as it
// happens.
func newRegistry(srv *server.Server, storages map[string]storage.Storage, started time.Time) *metrics.Registry {
	reg := metrics.NewRegistry()
	const lbl = "storage"
	loads := reg.Counter("zeo_loads_total", "Objects loaded (server_status loads).", lbl)
	stores := reg.Counter("zeo_stores_total", "Object revisions stored (server_status stores).", lbl)
	commits := reg.Counter("zeo_commits_total", "Transactions committed (server_status commits).", lbl)
	aborts := reg.Counter("zeo_aborts_total", "Transactions aborted (server_status aborts).", lbl)
	conflicts := reg.Counter("zeo_conflicts_total", "Write conflicts reported to clients (server_status conflicts).", lbl)
	conns := reg.Gauge("zeo_connections", "Client connections registered with the storage (server_status connections).", lbl)
	active := reg.Gauge("zeo_active_transactions", "Transactions in progress (server_status active_txns).", lbl)
	waiting := reg.Gauge("zeo_waiting_committers", "Transactions waiting for the commit lock (server_status waiting).", lbl)
	lockHeld := reg.Gauge("zeo_commit_lock_held_seconds", "How long the commit lock has been held; 0 when free (from server_status lock_time).", lbl)
	lastAge := reg.Gauge("zeo_last_transaction_age_seconds", "Seconds since the time of the last committed transaction id (server_status last-transaction).", lbl)
	objects := reg.Gauge("zeo_objects", "Objects in the storage (the index size; get_info length).", lbl)
	size := reg.Gauge("zeo_storage_bytes", "Storage size in bytes (for a FileStorage, the bytes in Data.fs; get_info size).", lbl)
	groups := reg.Counter("zeo_group_commit_syncs_total", "Group commits made durable (each pays the status fsync once; the data fsync runs after the vote).", lbl)
	grouped := reg.Counter("zeo_group_commit_transactions_total", "Transactions made durable by group commits.", lbl)
	dbUp := reg.Gauge("zeo_database_up", "1 while a database-backed storage (RelStorage on PostgreSQL) has a writable database (a primary), else 0.", lbl)
	dbNode := reg.Gauge("zeo_database_write_node", "1 for the database node (host:port) a database-backed storage writes to.", lbl, "node")
	dbReconnects := reg.Counter("zeo_database_reconnects_total", "Database sessions re-established after one was lost.", lbl)
	dbLag := reg.Gauge("zeo_database_replica_lag_seconds", "How far the standby loads are read from was behind the last delivered tid, at its last answer (ro-replica-conf).", lbl)
	dbFailovers := reg.Counter("zeo_database_failovers_total", "Times the database node written to changed (a failover).", lbl)
	writeNodes := map[string]string{} // storage: node last reported (scrapes are serialized by OnScrape)
	startTime := reg.Gauge("zeo_start_time_seconds", "Unix time runzeo started serving.")
	startTime.With().Set(float64(started.UnixNano()) / 1e9)
	srv.SetObserver(newLatencyObserver(reg, storages))

	reg.OnScrape(func() {
		now := time.Now()
		for name, st := range storages {
			d, ok := srv.Status(name)
			if !ok {
				continue
			}
			loads.With(name).Set(statFloat(d, "loads"))
			stores.With(name).Set(statFloat(d, "stores"))
			commits.With(name).Set(statFloat(d, "commits"))
			aborts.With(name).Set(statFloat(d, "aborts"))
			conflicts.With(name).Set(statFloat(d, "conflicts"))
			conns.With(name).Set(statFloat(d, "connections"))
			active.With(name).Set(statFloat(d, "active_txns"))
			waiting.With(name).Set(statFloat(d, "waiting"))
			held := 0.0
			if t := statFloat(d, "lock_time"); t > 0 {
				held = max(float64(now.UnixNano())/1e9-t, 0)
			}
			lockHeld.With(name).Set(held)
			// An empty storage's last tid is zero (1900-01-01): its age
			// is reported as it is, a large number, as the tid says.
			if h, ok := d.Get("last-transaction"); ok {
				if s, ok := h.(string); ok {
					if t, err := tid.ParseHex(s); err == nil {
						lastAge.With(name).Set(now.Sub(t.Time()).Seconds())
					}
				}
			}
			objects.With(name).Set(float64(st.Len()))
			size.With(name).Set(float64(st.Size()))
			if h, ok := st.(storage.Health); ok {
				r := h.Health()
				up := 0.0
				if r.OK {
					up = 1
				}
				dbUp.With(name).Set(up)
				// The node written to before a failover stays, at 0.
				if prev, ok := writeNodes[name]; ok && prev != r.WriteNode {
					dbNode.With(name, prev).Set(0)
				}
				if r.WriteNode != "" {
					dbNode.With(name, r.WriteNode).Set(1)
					writeNodes[name] = r.WriteNode
				}
				dbReconnects.With(name).Set(float64(r.Reconnects))
				dbFailovers.With(name).Set(float64(r.Failovers))
				dbLag.With(name).Set(r.ReplicaLag)
			}
			if g, ok := st.(groupStater); ok {
				n, t := g.GroupStats()
				groups.With(name).Set(float64(n))
				grouped.With(name).Set(float64(t))
			}
		}
	})
	return reg
}

// statFloat reads a number from a server_status dict; absent or
// non-numeric values (lock_time is None when the lock is free) give 0.
func statFloat(d *wire.Dict, key string) float64 {
	v, ok := d.Get(key)
	if !ok {
		return 0
	}
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// opsHandler is the mux of the metrics address: /metrics (Prometheus
// text), /status (server_status of every storage as JSON, the ruok
// answer), and pprof under /debug/pprof/.
func opsHandler(srv *server.Server, reg *metrics.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricshttp.Handler(reg))
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			w.Write(append(srv.RuokJSON(), '\n'))
		}
	})
	// Registered on this mux, not http.DefaultServeMux, so that nothing
	// else in the process can add handlers to the metrics address.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// opsServer serves the metrics address until close.
type opsServer struct {
	hs   *http.Server
	done chan struct{}
}

func startOps(l net.Listener, h http.Handler, onErr func(error)) *opsServer {
	o := &opsServer{
		// No WriteTimeout: /debug/pprof/profile streams for its seconds
		// parameter (30 s by default).
		hs:   &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute},
		done: make(chan struct{}),
	}
	go func() {
		defer close(o.done)
		if err := o.hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			onErr(err) // the listener failed; runzeo goes on serving ZEO
		}
	}()
	return o
}

func (o *opsServer) close() {
	if o == nil {
		return
	}
	o.hs.Close()
	<-o.done
}

// Histogram buckets in seconds. A load from the FileStorage index and
// the OS page cache takes tens of microseconds, so its buckets start
// lower than metrics.DefaultBuckets; a group sync on a fast disk (or
// tmpfs) can take well under the default's first 0.5 ms.
var (
	loadBuckets  = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}
	fsyncBuckets = append([]float64{0.0001, 0.00025}, metrics.DefaultBuckets...)
)

// latencyObserver turns the server's timings into histograms (commit
// and load latency, fsync time). The series of the configured
// storages are looked up once here, so an observation is one short
// mutex and no allocation; a name not configured (none today) goes
// through With.
type latencyObserver struct {
	load, commit, fsync    *metrics.HistogramVec
	loadS, commitS, fsyncS map[string]metrics.Histogram // read-only after construction
}

func newLatencyObserver(reg *metrics.Registry, storages map[string]storage.Storage) *latencyObserver {
	const lbl = "storage"
	o := &latencyObserver{
		load: reg.Histogram("zeo_load_duration_seconds",
			"loadBefore time in the server: from the request to the storage's answer, including waiting for a commit being published.",
			loadBuckets, lbl),
		commit: reg.Histogram("zeo_commit_duration_seconds",
			"Commit latency: from a transaction's first vote to its tpc_finish reply, once durable (includes the client's round trips between them).",
			metrics.DefaultBuckets, lbl),
		fsync: reg.Histogram("zeo_fsync_duration_seconds",
			"Time of each group-commit sync that makes a batch of transactions durable: the status bytes' fsync, and the data fsync if the one after the vote has not covered the batch.",
			fsyncBuckets, lbl),
		loadS: map[string]metrics.Histogram{}, commitS: map[string]metrics.Histogram{}, fsyncS: map[string]metrics.Histogram{},
	}
	// Created up front so that a scrape shows every storage's histograms
	// with zero counts before the first request.
	for name := range storages {
		o.loadS[name] = o.load.With(name)
		o.commitS[name] = o.commit.With(name)
		o.fsyncS[name] = o.fsync.With(name)
	}
	return o
}

func pick(m map[string]metrics.Histogram, vec *metrics.HistogramVec, name string) metrics.Histogram {
	if h, ok := m[name]; ok {
		return h
	}
	return vec.With(name)
}

// Load implements server.Observer.
func (o *latencyObserver) Load(st string, d time.Duration) {
	pick(o.loadS, o.load, st).Observe(d.Seconds())
}

// Commit implements server.Observer.
func (o *latencyObserver) Commit(st string, d time.Duration) {
	pick(o.commitS, o.commit, st).Observe(d.Seconds())
}

// Sync implements server.Observer; the transactions a sync made durable
// are already counted by zeo_group_commit_transactions_total.
func (o *latencyObserver) Sync(st string, d time.Duration, txns int) {
	pick(o.fsyncS, o.fsync, st).Observe(d.Seconds())
}
