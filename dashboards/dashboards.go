// Package dashboards holds zdkit's Grafana dashboard for runzeo's and
// zdrun's Prometheus metrics (zdkit.json, imported into Grafana as it is)
// and reads the metric names its queries use, so that the programs' tests
// can check every query against what they really export.
package dashboards

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// JSON is the dashboard, as Grafana imports it.
//
//go:embed zdkit.json
var JSON []byte

// metricName finds zdkit metric names in a PromQL expression: runzeo's
// zeo_* and zdrun's zdrun_* families (with a histogram's _bucket, _sum or
// _count suffix, as the exposition names the series).
var metricName = regexp.MustCompile(`\b(?:zeo|zdrun)_[a-z0-9_]*[a-z0-9]`)

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// Queries returns every PromQL expression of the dashboard (panel targets
// and template variable queries), keyed by where it stands.
func Queries() (map[string]string, error) {
	var d dashboard
	if err := json.Unmarshal(JSON, &d); err != nil {
		return nil, fmt.Errorf("dashboards: zdkit.json: %w", err)
	}
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, t := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i+1)] = t.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for i, v := range d.Templating.List {
		if v.Definition != "" {
			out[fmt.Sprintf("variable %d", i+1)] = v.Definition
		}
	}
	return out, nil
}

// MetricNames returns the sorted, distinct metric names with the given
// prefix ("zeo_" or "zdrun_") that the dashboard's queries use.
func MetricNames(prefix string) ([]string, error) {
	qs, err := Queries()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, q := range qs {
		for _, n := range metricName.FindAllString(q, -1) {
			if strings.HasPrefix(n, prefix) {
				seen[n] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Missing returns the names of MetricNames(prefix) that have no sample in
// a Prometheus text exposition (what GET /metrics returned).
func Missing(prefix, exposition string) ([]string, error) {
	names, err := MetricNames(prefix)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			have[line[:i]] = true
		}
	}
	var missing []string
	for _, n := range names {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}
