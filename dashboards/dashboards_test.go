package dashboards

import (
	"slices"
	"strings"
	"testing"
)

// The dashboard parses, every panel target has a query, and the queries
// name both programs' metrics (the programs' own tests check the names
// against a real scrape: pkg/zeo/runzeo and pkg/supervisor).
func TestDashboardQueries(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 20 {
		t.Fatalf("%d queries", len(qs))
	}
	for where, q := range qs {
		if strings.TrimSpace(q) == "" {
			t.Errorf("%s: empty query", where)
		}
		if !metricName.MatchString(q) {
			t.Errorf("%s: %q names no zeo_ or zdrun_ metric", where, q)
		}
	}
	zeo, _ := MetricNames("zeo_")
	zdrun, _ := MetricNames("zdrun_")
	for _, want := range []string{"zeo_loads_total", "zeo_commits_total", "zeo_load_duration_seconds_bucket", "zeo_fsync_duration_seconds_bucket", "zeo_waiting_committers", "zeo_connections"} {
		if !slices.Contains(zeo, want) {
			t.Errorf("no query uses %s (have %v)", want, zeo)
		}
	}
	for _, want := range []string{"zdrun_restarts_total", "zdrun_backoff_seconds", "zdrun_program_up"} {
		if !slices.Contains(zdrun, want) {
			t.Errorf("no query uses %s (have %v)", want, zdrun)
		}
	}
}

func TestMissing(t *testing.T) {
	expo := "# HELP zeo_loads_total x\n# TYPE zeo_loads_total counter\nzeo_loads_total{storage=\"1\"} 3\nzeo_connections 1\n"
	missing, err := Missing("zeo_", expo)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(missing, "zeo_loads_total") || slices.Contains(missing, "zeo_connections") || !slices.Contains(missing, "zeo_commits_total") {
		t.Errorf("Missing = %v", missing)
	}
}
