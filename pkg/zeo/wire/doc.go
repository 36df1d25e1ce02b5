// Package wire implements the ZEO 5/6 transport: sized frames, the
// protocol-id handshake and the two marshallings (pickle "Z" and msgpack
// "M") of the RPC 4-tuple (msgid, flags, method, args).
//
// Both codecs share one neutral value model (see Value) so the server is
// written once. Decoding is strict: pickle GLOBALs are checked against the
// allow-list ZEO's server_find_global uses, and every length read from the
// wire is checked against the bytes that remain, and every allocation is
// charged to a budget proportional to the frame before it is made
// (DecodeCost, ErrValueBudget), so hostile input cannot make the decoder
// allocate more than a fixed multiple of the frame it came in.
package wire
