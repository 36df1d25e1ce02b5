// Package templates holds the files mkzeoinst writes into a new ZEO
// instance, embedded in the binary so that an installed mkzeoinst needs
// nothing beside it.  The tree mirrors the instance: etc/zeo.conf,
// etc/zeoctl.conf, etc/zeo.service, bin/zeoctl and bin/runzeo, each a
// text/template rendered by pkg/instance (ZODB3 ZEO/mkzeoinst.py's templates; docs/mkzeoinst.md).
//
// Template data: .Home (the absolute instance home), .Address (the
// <zeo> address: a port, host:port or an absolute Unix socket path),
// .Zdctl, .Zdrun, .Runzeo (absolute paths of the zdkit programs).  Two
// Functions quote values for their destination: conf escapes "$" for
// ZConfig's substitution, sh quotes for /bin/sh when a path needs it,
// unit escapes systemd's "%" specifiers and unitexec also "$" for
// ExecStart's variable expansion.
package templates

import "embed"

// FS holds the templates under their instance paths (etc/..., bin/...).
//
//go:embed etc bin
var FS embed.FS
