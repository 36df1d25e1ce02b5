// Package zeo is the home of zdkit's ZEO 5/6 wire-compatible storage
// server and client. The work is split into subpackages:
//
//   - wire: framing, the Z5/M5 handshake, the pickle and msgpack codecs
//     and the RPC message tuple (docs/design/wire-protocol.md).
//   - storage: the interface a storage must offer to be served, and the
//     errors the server maps to ZODB.POSException class names.
//   - mappingstorage: an in-memory storage (ZODB's <mappingstorage>).
//   - server: the StorageServer (connection state machine, commit lock,
//     invalidations, transaction timeout).
//   - client: a small Go ClientStorage used by zeoup and the tests.
package zeo
