// Package control implements zdaemon's control-socket protocol between the
// controller (zdctl) and the daemon manager (zdrun).
//
// The protocol is the one of zdaemon 5.2.1's zdrun.py (docs/design/control-socket.md): an AF_UNIX stream
// socket, one request per connection; the client sends a single line
// "COMMAND [ARGS]\n", shuts down its write side and reads the reply until EOF.
//
// The client side is Call plus ParseStatus, which follows zdctl's own rules
// for deciding whether a manager is up (an "application=<digits>" line) so a
// Go zdctl can also talk to a Python zdrun and the reverse.
//
// The server side is Listen / Server: it takes the socket "lock" the way
// zdrun does (bind a temporary name, then link(2) it to the real name), but
// detects a stale socket without zdrun's one-second sleep (zdaemon fault 15), and it
// answers several connections at once instead of superseding the pending one.
// Each connection's peer is checked with SO_PEERCRED: only root and the
// socket's owner are obeyed, others get RefusalReply (zdrun relied
// on the 0700 mode alone). The line limit (10 KB, as zdrun) and the time a
// client may take to send its line are Listener settings.
//
// The status reply's "filename=" and "args=" values are Python reprs of a
// str and a list of str, written and read with pkg/pyrepr (we keep
// the Python repr so a Python zdctl can compare its program words).
package control
