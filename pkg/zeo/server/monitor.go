package server

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// MonitorReport is the 2003-style text report of the old monitor port
// (ZEO 2-4 monitor-address, ZEO 4's ZEO/monitor.py StatsServer), one block per storage
// sorted by name.
func (s *Server) MonitorReport(version string) string {
	var sb strings.Builder
	if version == "" {
		version = "unknown"
	}
	fmt.Fprintf(&sb, "ZEO monitor server version %s\n", version)
	fmt.Fprintf(&sb, "%s\n\n", time.Now().Format("Mon Jan _2 15:04:05 2006"))
	for _, n := range s.names {
		st := s.stores[n]
		fmt.Fprintf(&sb, "Storage: %s\n", n)
		fmt.Fprintf(&sb, "Server started: %s\n", s.started.Format("Mon Jan _2 15:04:05 2006"))
		fmt.Fprintf(&sb, "Clients: %d\n", st.connections())
		fmt.Fprintf(&sb, "Clients verifying: 0\n")
		fmt.Fprintf(&sb, "Active transactions: %d\n", st.activeTxns.Load())
		st.lockMu.Lock()
		if st.holder != nil {
			fmt.Fprintf(&sb, "Commit lock held for: %d\n", int64(time.Since(st.lockTime).Seconds()))
		}
		st.lockMu.Unlock()
		fmt.Fprintf(&sb, "Commits: %d\n", st.commits.Load())
		fmt.Fprintf(&sb, "Aborts: %d\n", st.aborts.Load())
		fmt.Fprintf(&sb, "Loads: %d\n", st.loads.Load())
		fmt.Fprintf(&sb, "Stores: %d\n", st.stores.Load())
		fmt.Fprintf(&sb, "Conflicts: %d\n", st.conflicts.Load())
		fmt.Fprintf(&sb, "Conflicts resolved: 0\n\n")
	}
	return sb.String()
}

// ServeMonitor writes the report to every connection on l and closes it,
// reading nothing (as ZEO 4's StatsClient did). It returns when l is closed.
func (s *Server) ServeMonitor(l net.Listener, version string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = true
	s.mu.Unlock()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			delete(s.listeners, l)
			s.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		nc.Write([]byte(s.MonitorReport(version)))
		nc.Close()
	}
}
