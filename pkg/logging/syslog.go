package logging

import (
	"errors"
	"fmt"
	"log/syslog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SyslogConfig is a <syslog> handler (ZConfig 4.3's SyslogHandlerFactory,
// Python's logging.handlers.SysLogHandler).
type SyslogConfig struct {
	// Network is "unix" for a socket path (a datagram socket is tried
	// first, then a stream one, as SysLogHandler does), else "udp".
	Network string
	// Address is the socket path or host:port (ZConfig's default is
	// localhost:514).
	Address string
	// Facility is one of SyslogFacilities (ZConfig's default is user).
	Facility string
	// Tag names the program in each message; "" uses the program name.
	Tag string
}

// SyslogFacilities are the facility names ZConfig's syslog_facility
// accepts, and their log/syslog values.
var SyslogFacilities = map[string]syslog.Priority{
	"auth": syslog.LOG_AUTH, "authpriv": syslog.LOG_AUTHPRIV, "cron": syslog.LOG_CRON,
	"daemon": syslog.LOG_DAEMON, "kern": syslog.LOG_KERN, "lpr": syslog.LOG_LPR,
	"mail": syslog.LOG_MAIL, "news": syslog.LOG_NEWS, "security": syslog.LOG_AUTH,
	"syslog": syslog.LOG_SYSLOG, "user": syslog.LOG_USER, "uucp": syslog.LOG_UUCP,
	"local0": syslog.LOG_LOCAL0, "local1": syslog.LOG_LOCAL1, "local2": syslog.LOG_LOCAL2,
	"local3": syslog.LOG_LOCAL3, "local4": syslog.LOG_LOCAL4, "local5": syslog.LOG_LOCAL5,
	"local6": syslog.LOG_LOCAL6, "local7": syslog.LOG_LOCAL7,
}

// ErrSyslog wraps a <syslog> handler that cannot be set up.
var ErrSyslog = errors.New("syslog handler")

// ParseFacility is ZConfig's syslog_facility: a known name, in any case,
// or its message listing them.
func ParseFacility(s string) (string, error) {
	f := strings.ToLower(s)
	if _, ok := SyslogFacilities[f]; ok {
		return f, nil
	}
	names := make([]string, 0, len(SyslogFacilities))
	for n := range SyslogFacilities {
		names = append(names, n)
	}
	sort.Strings(names)
	return "", fmt.Errorf("%w: Syslog facility must be one of %s", ErrConfig, strings.Join(names, ", "))
}

// syslogSink sends records through the standard library's log/syslog,
// which frames them as syslog(3) does (priority, time, tag and pid) and
// reconnects after a failed write. Python's SysLogHandler sends only
// "<priority>message\0"; a syslog daemon adds the time and host to either.
type syslogSink struct{ w *syslog.Writer }

func dialSyslog(c SyslogConfig) (*syslogSink, error) {
	fac, ok := SyslogFacilities[strings.ToLower(c.Facility)]
	if !ok {
		if _, err := ParseFacility(c.Facility); err != nil {
			return nil, err
		}
	}
	tag := c.Tag
	if tag == "" {
		tag = filepath.Base(os.Args[0])
	}
	networks := []string{c.Network}
	if c.Network == "unix" {
		networks = []string{"unixgram", "unix"}
	}
	var errs []error
	for _, n := range networks {
		w, err := syslog.Dial(n, c.Address, fac|syslog.LOG_INFO, tag)
		if err == nil {
			return &syslogSink{w: w}, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: connecting to %s: %w", ErrSyslog, c.Address, errors.Join(errs...))
}

// send writes msg with the severity SysLogHandler.mapPriority gives the
// level: debug, info, warning, err, crit. Python maps level names it does
// not know (Zope's BLATHER and TRACE) to warning; here they go by number,
// BLATHER to info and TRACE to debug.
func (s *syslogSink) send(l Level, msg []byte) error {
	m := string(msg)
	switch {
	case l >= LevelCritical:
		return s.w.Crit(m)
	case l >= LevelError:
		return s.w.Err(m)
	case l >= LevelWarning:
		return s.w.Warning(m)
	case l >= LevelBlather:
		return s.w.Info(m)
	default:
		return s.w.Debug(m)
	}
}

func (s *syslogSink) close() error { return s.w.Close() }
