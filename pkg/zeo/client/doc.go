// Package client is a small Go ZEO 5/6 client: dial (TCP, Unix, TLS,
// several addresses), handshake, register, loads, the full commit protocol
// with client-side conflict information, invalidation and info callbacks.
// It is what cmd/zeoup and the server tests use; it has no object cache
// and no ZODB object model.
package client
