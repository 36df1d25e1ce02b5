package storage

// CommitFeed is implemented by storages that other processes commit to
// as well (a PostgreSQL database shared by several runzeo front ends and
// RelStorage applications). The server turns what it reports into
// invalidations, in tid order, as if its own clients had committed.
type CommitFeed interface {
	// WatchCommits gives the storage a function to call, from any
	// goroutine and without blocking, when commits made elsewhere may be
	// waiting; the server then calls PollCommits.
	WatchCommits(wake func())
	// PollCommits returns the transactions committed elsewhere that were
	// not yet delivered, oldest first, and counts them as delivered. The
	// server calls it, and Transaction.Finish, with its visibility lock
	// held, and publishes the result before anything newer.
	PollCommits() ([]Invalidation, error)
}

// PriorCommits is implemented by the Transactions of a CommitFeed.
// After Finish returned tid T, it lists the transactions committed
// elsewhere below T that were not yet delivered, oldest first: the
// server publishes them, to every client including the committer,
// before T itself, so that no client's last tid goes backwards.
type PriorCommits interface {
	PriorCommits() []Invalidation
}

// VoteConflicts is returned by Transaction.Vote of storages that find
// write conflicts only when they lock the objects at vote (RelStorage's
// lock_objects_and_detect_conflicts) rather than in Store. The server
// hands each back to the client for resolution, as it does the
// ConflictErrors of Store.
type VoteConflicts struct {
	Conflicts []ConflictError
}

func (e *VoteConflicts) Error() string {
	return "database conflict error"
}

// ConcurrentCommitter is implemented by storages that lock the objects a
// transaction writes themselves, at vote, and can hold several
// transactions between vote and finish at once (PostgreSQL's advisory
// locks, shared by every process on the database). The server then
// takes no storage-wide commit lock: votes run at once, waiting for
// object locks in the storage, and tpc_finish stays ordered by the
// server's visibility lock.
type ConcurrentCommitter interface {
	ConcurrentCommits()
}
