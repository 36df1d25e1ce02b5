// Package metricshttp serves a metrics.Registry through net/http, for
// servers that already use net/http (runzeo, with pprof and /status
// beside /metrics). zdrun uses metrics.Serve instead, which keeps net/http
// out of its binary (see pkg/metrics/serve.go).
package metricshttp

import (
	"net/http"

	"github.com/zdkit/zdkit/pkg/metrics"
)

// Handler returns an http.Handler answering GET and HEAD with the
// registry's exposition.
func Handler(r *metrics.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", metrics.ContentType)
		if req.Method == http.MethodHead {
			return
		}
		r.WriteTo(w)
	})
}
