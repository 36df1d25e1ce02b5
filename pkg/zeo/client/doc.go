// Package client is a small Go ZEO 5/6 client: dial (TCP, Unix, TLS,
// several addresses), handshake, register, loads, the full commit protocol
// with client-side conflict information, invalidation and info callbacks.
// It is what cmd/zeoup and the server tests use.  CachedStorage adds
// ClientStorage's client cache (pkg/zeo/cache: persistent or temporary,
// verified on every connection, serving cached reads while the server is
// away); there is no ZODB object model.
package client
