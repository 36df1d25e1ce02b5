//go:build race

package stress

// raceEnabled builds runzeo with -race too when the tests run with
// -race (make test, make stress), so that a data race in the server
// under these faults is reported.
const raceEnabled = true
