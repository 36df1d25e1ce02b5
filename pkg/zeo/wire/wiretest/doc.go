// Package wiretest makes ZEO frames for tests of the wire decoders and
// of servers: the hostile ones a peer sends to make a decoder build as
// many values per byte as it can.
package wiretest
