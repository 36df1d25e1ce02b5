// Package interop holds opt-in tests that run the real Python programs
// (ZODB 6 FileStorage, ZEO 6 ClientStorage, zdaemon 5) against zdkit's
// binaries and files, because the contract is "drop-in replacement": a
// user swaps the Python servers for ours and keeps their clients, config
// files and Data.fs.
//
// The tests skip unless ZDKIT_PYREF names a PYTHONPATH under which a
// Python 3 interpreter can import ZODB, ZEO, ZConfig and zdaemon (see
// docs/interop.md). The Python helper scripts live in testdata/.
package interop
