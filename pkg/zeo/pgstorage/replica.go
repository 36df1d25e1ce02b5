package pgstorage

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// replica serves loads from a hot standby (RelStorage's ro-replica-conf).
// Commits, oids and polls stay on the primary. A standby lags, so every
// load it answers also reports, in the same snapshot, the newest tid the
// standby has; an answer from a standby that has not yet replayed the
// last tid this storage delivered to its clients is thrown away and the
// load is made on the primary. A client therefore never reads a state
// older than what it was told was committed (its own commits included),
// and never sees a tid go backwards: RelStorage's revert-when-stale has
// nothing left to revert.
type replica struct {
	pools     []*pgxpool.Pool // one per DSN of ro-replica-conf; connected lazily
	addrs     []string
	cur       atomic.Int64  // the standby in use
	timeout   time.Duration // how long failed standbys are left alone (replica-timeout)
	downUntil atomic.Int64  // unix nanoseconds
	loads     atomic.Int64  // loads a standby answered
	stale     atomic.Int64  // answers thrown away because the standby lagged
	lag       atomic.Int64  // nanoseconds behind the delivered tid, at the last answer
}

// openReplica prepares a pool per DSN; none connects before its first
// load, so a standby that is down at start only sends loads to the
// primary.
func openReplica(dsns []string, timeout time.Duration) (*replica, error) {
	r := &replica{timeout: timeout}
	for _, dsn := range dsns {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err == nil && cfg.ConnConfig.ConnectTimeout == 0 {
			cfg.ConnConfig.ConnectTimeout = 2 * time.Second
		}
		var pool *pgxpool.Pool
		if err == nil {
			pool, err = pgxpool.NewWithConfig(context.Background(), cfg)
		}
		if err != nil {
			r.close()
			return nil, fmt.Errorf("ro-replica-conf dsn: %w", err)
		}
		r.pools = append(r.pools, pool)
		r.addrs = append(r.addrs, fmt.Sprintf("%s:%d", cfg.ConnConfig.Host, cfg.ConnConfig.Port))
	}
	return r, nil
}

func (r *replica) close() {
	for _, p := range r.pools {
		p.Close()
	}
}

// pool is the standby in use.
func (r *replica) pool() *pgxpool.Pool { return r.pools[r.cur.Load()%int64(len(r.pools))] }

// addr is the address of the standby in use.
func (r *replica) addr() string { return r.addrs[r.cur.Load()%int64(len(r.addrs))] }

// failed moves on to the next standby (RelStorage tries the replicas of
// its file in order); after the last one, all are left alone for
// replica-timeout.
func (r *replica) failed() {
	r.pool().Reset()
	if r.cur.Add(1)%int64(len(r.pools)) == 0 {
		r.downUntil.Store(time.Now().Add(r.timeout).UnixNano())
	}
}

// usable tells whether loads may be tried on a standby now.
func (r *replica) usable() bool {
	return r != nil && time.Now().UnixNano() >= r.downUntil.Load()
}

// loadBeforeReplica answers LoadBefore from the standby when it can;
// handled false sends the load to the primary.
func (s *Storage) loadBeforeReplica(oid storage.OID, before tid.TID) (data []byte, start, end tid.TID, handled bool) {
	r := s.replica
	if !r.usable() {
		return nil, 0, 0, false
	}
	delivered := int64(s.lastDelivered.Load())
	var st, newest int64
	var e *int64
	var err error
	newestSQL := `(SELECT COALESCE(MAX(tid), 0) FROM object_state)`
	if s.hp {
		err = r.pool().QueryRow(s.ctx, `SELECT o.state, o.tid,
			(SELECT MIN(n.tid) FROM object_state n WHERE n.zoid = $1 AND n.tid > o.tid), `+newestSQL+`
			FROM object_state o WHERE o.zoid = $1 AND o.tid < $2
			ORDER BY o.tid DESC LIMIT 1`, int64(oid), int64(before)).Scan(&data, &st, &e, &newest)
	} else {
		err = r.pool().QueryRow(s.ctx, `SELECT state, tid, NULL::bigint, `+newestSQL+` FROM object_state
			WHERE zoid = $1 AND tid < $2`, int64(oid), int64(before)).Scan(&data, &st, &e, &newest)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// Absent on the standby: perhaps not replayed yet; the primary
		// decides between a new object and a POSKeyError.
		return nil, 0, 0, false
	case err != nil:
		if sessionLost(err) {
			r.failed()
		}
		return nil, 0, 0, false
	}
	if newest < delivered {
		lag := tid.TID(delivered).Time().Sub(tid.TID(newest).Time())
		r.lag.Store(int64(lag))
	} else {
		r.lag.Store(0)
	}
	if newest < delivered || data == nil {
		// Behind what clients were told (or a deletion, which the
		// primary reports as it does for any load).
		if data != nil {
			r.stale.Add(1)
		}
		return nil, 0, 0, false
	}
	r.loads.Add(1)
	if e != nil {
		end = tid.TID(*e)
	}
	return data, tid.TID(st), end, true
}

// ReplicaLoads reports the loads the standby answered and the answers
// thrown away because it lagged.
func (s *Storage) ReplicaLoads() (served, stale int64) {
	if s.replica == nil {
		return 0, 0
	}
	return s.replica.loads.Load(), s.replica.stale.Load()
}
