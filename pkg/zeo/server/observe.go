package server

import "time"

// Observer receives the timings of the serving paths, per storage name,
// for latency histograms (commit and load latency, fsync time). ZEO's server_status has only counters; these durations are
// measured where the counters are bumped so that both agree. Methods are
// called on the serving goroutines (Commit while the storage's visibility
// lock is held), so they must be quick and safe for concurrent use: an
// atomic add or a short mutex, never I/O.
type Observer interface {
	// Load is one loadBefore: from the request's dispatch (after its
	// arguments parsed, where server_status counts it) to the storage's
	// answer, including the wait for a tpc_finish holding the
	// visibility lock. It is called before the reply is queued, so a
	// client holding the reply finds the load observed.
	Load(storage string, d time.Duration)
	// Commit is one committed transaction: from its first vote to the
	// moment its tpc_finish reply is queued, once the transaction is
	// durable (called just before the reply, as Load). It
	// includes the client's round trips between vote and tpc_finish
	// (and any conflict resolution), which is what a committing client
	// waits for; stores before the vote are not included.
	Commit(storage string, d time.Duration)
	// Sync is one group-commit sync (the storage's two fsyncs and the
	// status-byte flips between them) that made txns transactions
	// durable.
	Sync(storage string, d time.Duration, txns int)
}

// observerBox lets an interface value live in an atomic.Pointer.
type observerBox struct{ o Observer }

// SetObserver installs o (nil removes it). It may be called at any time,
// also while serving: runzeo installs its metrics after the server is
// built. Without an observer the serving paths skip the clock reads.
func (s *Server) SetObserver(o Observer) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&observerBox{o})
}

func (s *Server) obs() Observer {
	if b := s.observer.Load(); b != nil {
		return b.o
	}
	return nil
}

// obsStart is the start time of a measured step: zero when nobody
// observes, so that an unobserved server does not read the clock.
func (s *Server) obsStart() time.Time {
	if s.observer.Load() == nil {
		return time.Time{}
	}
	return time.Now()
}

func (st *store) observeLoad(start time.Time) {
	if o := st.srv.obs(); o != nil && !start.IsZero() {
		o.Load(st.name, time.Since(start))
	}
}

func (st *store) observeCommit(start time.Time) {
	if o := st.srv.obs(); o != nil && !start.IsZero() {
		o.Commit(st.name, time.Since(start))
	}
}

func (st *store) observeSync(start time.Time, txns int) {
	if o := st.srv.obs(); o != nil && !start.IsZero() {
		o.Sync(st.name, time.Since(start), txns)
	}
}
