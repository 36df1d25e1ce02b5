// Package zeobench is a load generator for ZEO servers (docs/performance.md): N
// concurrent connections made with pkg/zeo/client, each running a mix of
// loadBefore calls and small one-object commits for a duration or a
// count, against a server at an address (a runzeo process) or one it
// starts in-process. The result is a JSON-friendly Result and a table.
//
// It measures what the Python ZEO figures in the issue measure: loads and
// commits per second over loopback, as a client sees them.
package zeobench
