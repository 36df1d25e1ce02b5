package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// DefaultBuckets are latency buckets in seconds, from 0.5 ms to 10 s.
var DefaultBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ContentType is the media type of the text exposition format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

type kind int

const (
	counterKind kind = iota
	gaugeKind
	histogramKind
)

func (k kind) String() string {
	return [...]string{"counter", "gauge", "histogram"}[k]
}

// Registry holds metric families in registration order.
type Registry struct {
	scrape   sync.Mutex // one exposition at a time: hooks need no locking
	mu       sync.Mutex
	families []*family
	names    map[string]bool
	hooks    []func()
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

type family struct {
	name, help string
	kind       kind
	labels     []string
	buckets    []float64

	mu     sync.Mutex
	series map[string]*series // key: label values joined by \xff
}

type series struct {
	values []string
	mu     sync.Mutex
	v      float64  // counter, gauge; histogram: sum
	counts []uint64 // histogram: per bucket (not cumulative), last = +Inf
	n      uint64   // histogram: count
}

func (r *Registry) register(name, help string, k kind, buckets []float64, labels []string) *family {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") || (k == histogramKind && l == "le") {
			panic(fmt.Sprintf("metrics: invalid label name %q for %s", l, name))
		}
	}
	if k == histogramKind {
		if !sort.Float64sAreSorted(buckets) || len(buckets) == 0 {
			panic(fmt.Sprintf("metrics: histogram %s needs increasing buckets", name))
		}
		buckets = slices.Clone(buckets)
		if math.IsInf(buckets[len(buckets)-1], 1) {
			buckets = buckets[:len(buckets)-1]
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	r.names[name] = true
	f := &family{name: name, help: help, kind: k, labels: slices.Clone(labels), buckets: buckets, series: map[string]*series{}}
	r.families = append(r.families, f)
	return f
}

func (f *family) with(values []string) *series {
	if len(values) != len(f.labels) {
		// Label values are the caller's data; a wrong count is a bug in
		// the call, reported without crashing the server: the sample
		// goes to a series whose missing values are empty.
		values = append(slices.Clone(values), make([]string, max(len(f.labels)-len(values), 0))...)[:len(f.labels)]
	}
	key := strings.Join(values, "\xff")
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.series[key]
	if !ok {
		s = &series{values: slices.Clone(values)}
		if f.kind == histogramKind {
			s.counts = make([]uint64, len(f.buckets)+1)
		}
		f.series[key] = s
	}
	return s
}

// CounterVec is a counter family; With picks one series.
type CounterVec struct{ f *family }

// Counter is one counter series: it only goes up.
type Counter struct{ s *series }

// Counter registers a counter (name should end in _total).
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.register(name, help, counterKind, nil, labels)}
}

// With returns the series for these label values (in registration order).
func (c *CounterVec) With(values ...string) Counter { return Counter{c.f.with(values)} }

// Inc adds 1.
func (c Counter) Inc() { c.Add(1) }

// Add adds v; negative values are ignored (a counter never decreases).
func (c Counter) Add(v float64) {
	if v < 0 || math.IsNaN(v) {
		return
	}
	c.s.mu.Lock()
	c.s.v += v
	c.s.mu.Unlock()
}

// Set sets the counter to v when v is not below the current value; for
// mirroring a count kept elsewhere (read at scrape time).
func (c Counter) Set(v float64) {
	c.s.mu.Lock()
	if v > c.s.v {
		c.s.v = v
	}
	c.s.mu.Unlock()
}

// GaugeVec is a gauge family; With picks one series.
type GaugeVec struct{ f *family }

// Gauge is one gauge series.
type Gauge struct{ s *series }

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.register(name, help, gaugeKind, nil, labels)}
}

// With returns the series for these label values.
func (g *GaugeVec) With(values ...string) Gauge { return Gauge{g.f.with(values)} }

// Set sets the gauge.
func (g Gauge) Set(v float64) { g.s.mu.Lock(); g.s.v = v; g.s.mu.Unlock() }

// Add adds v (which may be negative).
func (g Gauge) Add(v float64) { g.s.mu.Lock(); g.s.v += v; g.s.mu.Unlock() }

// HistogramVec is a histogram family; With picks one series.
type HistogramVec struct{ f *family }

// Histogram is one histogram series.
type Histogram struct {
	s       *series
	buckets []float64
}

// Histogram registers a histogram with the given upper bounds (increasing;
// +Inf is implied).
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return &HistogramVec{r.register(name, help, histogramKind, buckets, labels)}
}

// With returns the series for these label values.
func (h *HistogramVec) With(values ...string) Histogram {
	return Histogram{h.f.with(values), h.f.buckets}
}

// Observe records one value.
func (h Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.buckets, v) // first bound >= v: le is inclusive
	h.s.mu.Lock()
	h.s.counts[i]++
	h.s.n++
	h.s.v += v
	h.s.mu.Unlock()
}

// OnScrape registers f to run before every exposition, to refresh gauges
// from state kept elsewhere. Expositions are serialized, so hooks never run
// concurrently with each other.
func (r *Registry) OnScrape(f func()) {
	r.mu.Lock()
	r.hooks = append(r.hooks, f)
	r.mu.Unlock()
}

// WriteTo writes every family in the text exposition format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.scrape.Lock()
	defer r.scrape.Unlock()
	r.mu.Lock()
	hooks := slices.Clone(r.hooks)
	fams := slices.Clone(r.families)
	r.mu.Unlock()
	for _, h := range hooks {
		h()
	}
	cw := &countWriter{w: bufio.NewWriter(w)}
	for _, f := range fams {
		f.write(cw)
	}
	err := cw.w.Flush()
	if cw.err != nil {
		err = cw.err
	}
	return cw.n, err
}

type countWriter struct {
	w   *bufio.Writer
	n   int64
	err error
}

func (c *countWriter) s(str string) {
	if c.err != nil {
		return
	}
	n, err := c.w.WriteString(str)
	c.n += int64(n)
	c.err = err
}

func (f *family) write(w *countWriter) {
	f.mu.Lock()
	list := make([]*series, 0, len(f.series))
	for _, s := range f.series {
		list = append(list, s)
	}
	f.mu.Unlock()
	if len(list) == 0 {
		return // a family without samples is left out, as client_golang does
	}
	sort.Slice(list, func(i, j int) bool { return slices.Compare(list[i].values, list[j].values) < 0 })
	w.s("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
	w.s("# TYPE " + f.name + " " + f.kind.String() + "\n")
	for _, s := range list {
		s.mu.Lock()
		v, n, counts := s.v, s.n, slices.Clone(s.counts)
		s.mu.Unlock()
		if f.kind != histogramKind {
			w.s(f.name + labelText(f.labels, s.values, "", "") + " " + FormatValue(v) + "\n")
			continue
		}
		var cum uint64
		for i, b := range f.buckets {
			cum += counts[i]
			w.s(f.name + "_bucket" + labelText(f.labels, s.values, "le", FormatValue(b)) + " " + strconv.FormatUint(cum, 10) + "\n")
		}
		w.s(f.name + "_bucket" + labelText(f.labels, s.values, "le", "+Inf") + " " + strconv.FormatUint(n, 10) + "\n")
		w.s(f.name + "_sum" + labelText(f.labels, s.values, "", "") + " " + FormatValue(v) + "\n")
		w.s(f.name + "_count" + labelText(f.labels, s.values, "", "") + " " + strconv.FormatUint(n, 10) + "\n")
	}
}

func labelText(names, values []string, extraName, extraValue string) string {
	if len(names) == 0 && extraName == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + `="` + EscapeLabelValue(values[i]) + `"`)
	}
	if extraName != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extraName + `="` + extraValue + `"`)
	}
	b.WriteByte('}')
	return b.String()
}

// FormatValue formats a sample value as the format wants: shortest
// round-trip decimal, and +Inf, -Inf, NaN.
func FormatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// EscapeLabelValue escapes backslash, double quote and newline.
func EscapeLabelValue(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes backslash and newline (quotes stay as they are).
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
