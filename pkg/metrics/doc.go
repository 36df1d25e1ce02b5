// Package metrics is a small writer of the Prometheus text exposition
// format (version 0.0.4): counters, gauges and histograms, each with
// optional labels, kept in a Registry that serves them over HTTP.
//
// It exists instead of github.com/prometheus/client_golang because of the
// dependency tree: client_golang pulls in client_model, common, procfs,
// protobuf, xxhash, munnell/beorn7 helpers and more (dozens of modules, a
// few MB in every binary), while zdrun and runzeo only need to print a
// handful of numbers in a line format that fits on one page. zdrun stays
// small (its RSS is a documented figure) and the project's go.mod stays
// short. What is left out on purpose: summaries, exemplars, the protobuf
// and OpenMetrics formats, process/Go runtime collectors (a caller can
// add gauges for what it wants, read at scrape time through OnScrape).
//
// Names are checked when a metric is registered; an invalid metric or
// label name is a programming error and panics, like regexp.MustCompile,
// because names are constants in the program, never input.
//
// Usage:
//
//	reg := metrics.NewRegistry()
//	up := reg.Gauge("zdrun_program_up", "1 if the program is running.")
//	loads := reg.Counter("zeo_loads_total", "Objects loaded.", "storage")
//	lat := reg.Histogram("zeo_commit_seconds", "Commit latency.", metrics.DefaultBuckets, "storage")
//	up.With().Set(1)
//	loads.With("1").Inc()
//	lat.With("1").Observe(0.003)
//	go metrics.Serve(ln, reg)                          // minimal HTTP, no net/http (zdrun)
//	mux.Handle("/metrics", metricshttp.Handler(reg))   // with net/http (runzeo)
package metrics
