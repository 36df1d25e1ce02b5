package metricshttp

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/zdkit/zdkit/pkg/metrics"
)

func TestHandler(t *testing.T) {
	r := metrics.NewRegistry()
	r.Counter("c_total", "a counter", "k").With("v").Add(3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(r)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != metrics.ContentType || string(body) != "# HELP c_total a counter\n# TYPE c_total counter\nc_total{k=\"v\"} 3\n" {
		t.Errorf("%s %q: %q", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	resp, err = http.Post("http://"+ln.Addr().String()+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s", resp.Status)
	}
}
