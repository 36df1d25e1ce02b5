// Package stress holds zdkit's fault-injection, load and hostile-input
// tests for the ZEO side (docs/reliability.md): real runzeo processes on loopback,
// killed with SIGKILL while clients commit, starved of disk space,
// abandoned by clients in every phase of the commit protocol, fed hostile
// frames, a thousand connections, TLS clients without a valid certificate,
// and a read-only server asked to write.
//
// The package has no code of its own; its tests build cmd/runzeo once per
// test binary into a temporary directory and drive it as a user would.
// A short version of every test runs in `go test` (a few rounds, well
// under a minute); ZDKIT_STRESS=1 (`make stress`) runs the long versions
// (200 kill rounds). The figures (rounds run, transactions acknowledged
// and found, faults injected) are logged with t.Logf and, when
// ZDKIT_STRESS_REPORT names a file, appended to it. docs/reliability.md
// describes what is tested and the figures of the last runs.
package stress
