// Package pgsandbox runs a throwaway PostgreSQL server for tests: initdb
// into a temporary directory (as the unprivileged `postgres` user when
// the test runs as root, because initdb and postgres refuse root),
// started on 127.0.0.1 with a free port and a private socket directory,
// one fresh database per test, stopped by pid when the test binary is
// done.
//
// A test package shares one server: its TestMain calls Main, and each
// test calls NewDatabase for a DSN of its own database. When the
// PostgreSQL binaries are missing, NewDatabase skips the test with a loud
// message, or fails it when CI=true (CI must run these tests).
//
// NewCluster (patroni.go) starts a high-availability cluster instead:
// etcd and Patroni nodes, each managing a PostgreSQL in streaming
// replication, all on loopback ports in one temporary directory, with a
// short leader TTL so that a failover takes seconds. Node.Kill is the
// loss of a node's machine (SIGKILL of its Patroni and its PostgreSQL);
// Node.Start brings it back as a standby. Without patroni and etcd (the
// Debian packages patroni and etcd-server) it skips like NewDatabase.
package pgsandbox
