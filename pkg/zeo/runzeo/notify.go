package runzeo

import (
	"net"
	"os"
	"strings"
)

// notifier speaks systemd's sd_notify protocol (sd_notify(3)): one datagram
// of "KEY=value" lines to the unixgram socket named by NOTIFY_SOCKET (a
// path, or "@name" in the abstract namespace). ZEO's runzeo has no
// readiness signal; with Type=notify systemd starts dependants only
// after runzeo listens instead of as soon as it is forked. Under zdrun
// the variable is consumed by zdrun (which declares readiness itself),
// so runzeo sees none and sends nothing.
type notifier struct {
	addr *net.UnixAddr
}

// notifySocket reads NOTIFY_SOCKET; nil when it is unset or not a path
// or abstract name (systemd's sd_notify ignores other values too).
func notifySocket() *notifier {
	v := os.Getenv("NOTIFY_SOCKET")
	if v == "" || (!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "@")) {
		return nil
	}
	return &notifier{addr: &net.UnixAddr{Name: v, Net: "unixgram"}}
}

// send delivers msg; errors are for the log (systemd may be gone, and
// serving goes on regardless).
func (n *notifier) send(msg string) error {
	if n == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(msg))
	return err
}
