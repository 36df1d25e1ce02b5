package metrics

import (
	"bufio"
	"bytes"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func expo(t *testing.T, r *Registry) string {
	t.Helper()
	var b strings.Builder
	n, err := r.WriteTo(&b)
	if err != nil || int(n) != b.Len() {
		t.Fatalf("WriteTo: %d, %v (wrote %d)", n, err, b.Len())
	}
	return b.String()
}

func TestExposition(t *testing.T) {
	r := NewRegistry()
	up := r.Gauge("zdrun_program_up", "1 if the program runs.")
	restarts := r.Counter("zdrun_restarts_total", "Restarts.\nSecond line with a \\ backslash.")
	loads := r.Counter("zeo_loads_total", "Loads.", "storage", "kind")
	lat := r.Histogram("zeo_commit_seconds", "Commit latency.", []float64{0.1, 1}, "storage")
	r.Gauge("unused", "never set: left out")
	up.With().Set(1)
	restarts.With().Inc()
	restarts.With().Add(2)
	restarts.With().Add(-5) // ignored
	loads.With("2", `a"b\c`+"\n").Add(1)
	loads.With("1", "x").Add(3.5)
	for _, v := range []float64{0.05, 0.1, 0.5, 7} {
		lat.With("1").Observe(v)
	}
	want := `# HELP zdrun_program_up 1 if the program runs.
# TYPE zdrun_program_up gauge
zdrun_program_up 1
# HELP zdrun_restarts_total Restarts.\nSecond line with a \\ backslash.
# TYPE zdrun_restarts_total counter
zdrun_restarts_total 3
# HELP zeo_loads_total Loads.
# TYPE zeo_loads_total counter
zeo_loads_total{storage="1",kind="x"} 3.5
zeo_loads_total{storage="2",kind="a\"b\\c\n"} 1
# HELP zeo_commit_seconds Commit latency.
# TYPE zeo_commit_seconds histogram
zeo_commit_seconds_bucket{storage="1",le="0.1"} 2
zeo_commit_seconds_bucket{storage="1",le="1"} 3
zeo_commit_seconds_bucket{storage="1",le="+Inf"} 4
zeo_commit_seconds_sum{storage="1"} 7.65
zeo_commit_seconds_count{storage="1"} 4
`
	if got := expo(t, r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", -1: "-1", 1e21: "1e+21", 0.25: "0.25", math.Inf(1): "+Inf", math.Inf(-1): "-Inf"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if got := FormatValue(math.NaN()); got != "NaN" {
		t.Errorf("NaN: %q", got)
	}
}

func TestBadNamesPanic(t *testing.T) {
	for _, f := range []func(r *Registry){
		func(r *Registry) { r.Counter("1bad", "") },
		func(r *Registry) { r.Gauge("ok", "", "bad-label") },
		func(r *Registry) { r.Gauge("ok", "", "__reserved") },
		func(r *Registry) { r.Histogram("h", "", []float64{1}, "le") },
		func(r *Registry) { r.Histogram("h", "", []float64{2, 1}) },
		func(r *Registry) { r.Gauge("twice", ""); r.Counter("twice", "") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic for an invalid registration")
				}
			}()
			f(NewRegistry())
		}()
	}
}

func TestWrongLabelCountDoesNotPanic(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("c_total", "c", "a", "b")
	c.With("only").Inc()
	c.With("x", "y", "extra").Inc()
	got := expo(t, r)
	if !strings.Contains(got, `c_total{a="only",b=""} 1`) || !strings.Contains(got, `c_total{a="x",b="y"} 1`) {
		t.Errorf("got %s", got)
	}
}

func TestConcurrentAndOnScrape(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("n_total", "n", "w")
	h := r.Histogram("h_seconds", "h", DefaultBuckets)
	g := r.Gauge("scraped", "set at scrape time")
	calls := 0
	r.OnScrape(func() { calls++; g.With().Set(float64(calls)) })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				c.With(string(rune('a' + i%2))).Inc()
				h.With().Observe(0.003)
			}
		}()
		wg.Add(1)
		go func() { defer wg.Done(); r.WriteTo(io.Discard) }()
	}
	wg.Wait()
	out := expo(t, r)
	for _, want := range []string{`n_total{w="a"} 4000`, `n_total{w="b"} 4000`, `h_seconds_count 8000`, `h_seconds_bucket{le="0.0025"} 0`, `h_seconds_bucket{le="0.005"} 8000`} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !strings.Contains(out, "scraped "+FormatValue(float64(calls))+"\n") {
		t.Errorf("OnScrape value not in output:\n%s", out)
	}
}

func TestServe(t *testing.T) {
	r := NewRegistry()
	r.Gauge("g", "a gauge").With().Set(2)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- Serve(ln, r) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	url := "http://" + ln.Addr().String()
	// A real HTTP client against the minimal responder.
	resp, err := http.Get(url + "/metrics?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ContentType || string(body) != "# HELP g a gauge\n# TYPE g gauge\ng 2\n" {
		t.Errorf("%s %q: %q", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	for _, c := range []struct {
		method, path string
		status       int
	}{{"POST", "/metrics", 405}, {"GET", "/other", 404}, {"HEAD", "/metrics", 200}} {
		req, _ := http.NewRequest(c.method, url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.status)
		}
	}
	// Raw bytes: garbage and an endless header.
	for _, c := range []struct{ send, status string }{
		{"nonsense\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"GET /metrics HTTP/1.0\r\nX: " + strings.Repeat("a", 9000) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
		{"\r\nGET /metrics HTTP/1.0\nHost: x\n\n", "HTTP/1.1 200 OK"},
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(c.send))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		out, _ := io.ReadAll(conn)
		conn.Close()
		if line, _, _ := strings.Cut(string(out), "\r\n"); line != c.status {
			t.Errorf("send %.30q: %q, want %q", c.send, line, c.status)
		}
	}
}

// FuzzParseRequest: the request-head parser never panics, never accepts
// more than 8 KiB, and accepts only GET/HEAD of /metrics.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("\r\nHEAD /metrics?a=b HTTP/1.0\n\n"))
	f.Add([]byte("POST / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseRequest(bufio.NewReaderSize(bytes.NewReader(data), 16))
		if err == nil {
			if m != "GET" && m != "HEAD" {
				t.Fatalf("accepted method %q", m)
			}
			if !bytes.Contains(data, []byte(" /metrics")) {
				t.Fatalf("accepted %q", data)
			}
		}
	})
}

// unescapeLabel is the reader's side of EscapeLabelValue, for the fuzz
// round trip.
func unescapeLabel(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzEscapeLabelValue checks that an escaped label value has no raw
// newline or unescaped quote (which would break the line format) and
// reads back to the original.
func FuzzEscapeLabelValue(f *testing.F) {
	f.Add("plain")
	f.Add("a\"b\\c\nd")
	f.Fuzz(func(t *testing.T, v string) {
		e := EscapeLabelValue(v)
		if strings.Contains(e, "\n") {
			t.Fatalf("raw newline in %q", e)
		}
		for i := 0; i < len(e); i++ {
			if e[i] == '\\' {
				i++
				continue
			}
			if e[i] == '"' {
				t.Fatalf("unescaped quote in %q", e)
			}
		}
		if got := unescapeLabel(e); got != v {
			t.Fatalf("round trip %q -> %q -> %q", v, e, got)
		}
	})
}
