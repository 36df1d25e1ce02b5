package supervisor

import (
	"net"
	"os"
	"strings"
)

// notifier speaks systemd's sd_notify protocol (sd_notify(3)): datagrams of
// "KEY=value" lines to the unixgram socket named by NOTIFY_SOCKET (a path,
// or "@name" for the abstract namespace). zdrun consumes the variable and
// removes it from the environment, so the program cannot send its own,
// conflicting READY=1: readiness is zdrun's to declare, after the start
// test (zdaemon had no readiness signal at all).
type notifier struct {
	addr *net.UnixAddr
}

// takeNotifySocket reads and unsets NOTIFY_SOCKET; nil when it is unset.
func takeNotifySocket() *notifier {
	v, ok := os.LookupEnv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if !ok || v == "" || (!strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "@")) {
		return nil
	}
	return &notifier{addr: &net.UnixAddr{Name: v, Net: "unixgram"}}
}

// send delivers one message; errors are returned for the log (systemd may
// be gone; supervision goes on regardless).
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
