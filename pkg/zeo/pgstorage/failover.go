package pgstorage

import (
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// health follows which PostgreSQL node the storage writes to. The
// listening session is its probe: it is connected with the same DSN as
// the commit session (several hosts with target_session_attrs=read-write
// find the primary, as libpq does), and it is the first to notice a
// primary that died, since it is always open.
//
// On a failover nothing else needs doing here: a commit in flight fails
// (its session is gone, and with it the transaction and its locks), the
// next vote opens a commit session on the new primary, reads retry on
// fresh pool connections, and polling goes on from the last tid this
// storage delivered, which the new primary has if the cluster replicates
// synchronously (Patroni synchronous_mode).
type health struct {
	mu         sync.Mutex
	ok         bool
	node       string
	reconnects int64
	failovers  int64
	lastErr    string
	connected  bool // a listening session was up before
}

var _ storage.Health = (*Storage)(nil)

// remoteAddr is the host:port a session is connected to.
func remoteAddr(conn *pgx.Conn) string {
	if nc := conn.PgConn().Conn(); nc != nil {
		return nc.RemoteAddr().String()
	}
	return ""
}

// noteUp records that the listening session is up on conn's node.
func (h *health) noteUp(conn *pgx.Conn) {
	addr := remoteAddr(conn)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.connected {
		h.reconnects++
	}
	if h.node != "" && addr != h.node {
		h.failovers++
	}
	h.connected, h.ok, h.node, h.lastErr = true, true, addr, ""
}

// noteDown records that the listening session failed or could not be
// opened: there is no primary until it is up again.
func (h *health) noteDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ok = false
	if err != nil {
		h.lastErr = err.Error()
	}
}

// Health: see storage.Health.
func (s *Storage) Health() storage.HealthReport {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	node := h.node
	if !h.ok {
		node = ""
	}
	read, lag := node, 0.0
	if s.replica.usable() {
		read = s.replica.addr()
		lag = time.Duration(s.replica.lag.Load()).Seconds()
	}
	return storage.HealthReport{OK: h.ok, WriteNode: node, ReadNode: read, ReplicaLag: lag,
		Reconnects: h.reconnects, Failovers: h.failovers, LastError: h.lastErr}
}
