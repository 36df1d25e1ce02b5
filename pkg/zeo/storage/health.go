package storage

// Health is implemented by storages that live in a database server the
// storage can lose (pgstorage behind a Patroni cluster): the server adds
// the report to server_status (and so to the ruok answer and runzeo's
// /status), and runzeo exports it as metrics.
type Health interface {
	Health() HealthReport
}

// HealthReport is a storage's view of its database.
type HealthReport struct {
	// OK is false while the storage has no writable database (no
	// primary): commits fail until it has one again.
	OK bool
	// WriteNode is the address (host:port) commits go to, "" when none.
	WriteNode string
	// ReadNode is the address loads and polls go to; equal to WriteNode
	// unless reads are served by a standby.
	ReadNode string
	// Reconnects counts the database sessions re-established after one
	// was lost; Failovers counts the times the write node changed.
	Reconnects int64
	Failovers  int64
	// ReplicaLag is how far the standby loads are read from was behind
	// the last tid delivered, at its last answer (0 without one).
	ReplicaLag float64 // seconds
	// LastError is the last connection failure, "" when none.
	LastError string
}
