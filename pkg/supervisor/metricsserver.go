package supervisor

import (
	"fmt"
	"net"

	"github.com/zdkit/zdkit/pkg/metrics"
)

// metricsServer is zdrun's HTTP endpoint for Prometheus (docs/zdrun.md). It
// uses metrics.Serve, not net/http, which would double zdrun's binary and
// add 3 MiB to its resident memory.
type metricsServer struct {
	ln net.Listener
}

// startMetrics listens on addr ("" = no endpoint) before the program
// starts, so a bad or busy address is reported at once.
func startMetrics(addr string) (*metricsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics-address %s: %w", addr, err)
	}
	return &metricsServer{ln: ln}, nil
}

// NewMetricsRegistry returns a registry with zdrun's metrics, read from s
// at every scrape (through the main loop, so they agree with "status").
// tr (nil outside daemon mode) adds the transcript's dropped bytes.
func NewMetricsRegistry(s *Supervisor, tr *Transcript) *metrics.Registry {
	reg := metrics.NewRegistry()
	up := reg.Gauge("zdrun_program_up", "1 if the program is running, else 0.")
	shouldBeUp := reg.Gauge("zdrun_should_be_up", "1 if the program is meant to run (not stopped), else 0.")
	restarts := reg.Counter("zdrun_restarts_total", "Times the program was started again after its first start (crashes, kills, restart commands).")
	spawns := reg.Counter("zdrun_spawns_total", "Times the program was started.")
	lastExit := reg.Gauge("zdrun_last_exit_status", "Exit status of the program's last exit; minus the signal number if a signal ended it; 0 before any exit.")
	backoff := reg.Gauge("zdrun_backoff_seconds", "Seconds left before a delayed respawn (0 when none is pending).")
	backoffStep := reg.Gauge("zdrun_backoff", "Current backoff step of the restart governor (the status reply's backoff=).")
	testing := reg.Gauge("zdrun_start_testing", "1 while start-test-program runs for the current spawn.")
	var dropped metrics.Counter
	if tr != nil {
		dropped = reg.Counter("zdrun_transcript_dropped_bytes_total", "Bytes of output dropped because the transcript could not be written (disk full).").With()
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	reg.OnScrape(func() {
		m, ok := s.Metrics()
		if !ok {
			m = Metrics{} // the manager is exiting: nothing runs
		}
		up.With().Set(b(m.Up))
		shouldBeUp.With().Set(b(m.ShouldBeUp && ok))
		restarts.With().Set(float64(m.Restarts))
		spawns.With().Set(float64(m.Spawns))
		lastExit.With().Set(float64(m.LastExitStatus))
		backoff.With().Set(m.BackoffSeconds)
		backoffStep.With().Set(float64(m.Backoff))
		testing.With().Set(b(m.Testing))
		if tr != nil {
			dropped.Set(float64(tr.Dropped()))
		}
	})
	return reg
}

func (m *metricsServer) serve(s *Supervisor, tr *Transcript) {
	go metrics.Serve(m.ln, NewMetricsRegistry(s, tr))
}

func (m *metricsServer) close() {
	if m != nil {
		m.ln.Close()
	}
}
