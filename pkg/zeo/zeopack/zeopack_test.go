package zeopack

import (
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
)

func TestPackTime(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.Local)
	cases := []struct {
		vals map[string]any
		want time.Time
	}{
		{map[string]any{}, now},
		{map[string]any{"days": 1.5}, now.Add(-36 * time.Hour)},
		{map[string]any{"time": "8"}, time.Date(2026, 11, 29, 8, 0, 0, 0, time.Local)},
		// a time of day later than now means yesterday (zeopack.py)
		{map[string]any{"time": "10:30"}, time.Date(2026, 11, 28, 10, 30, 0, 0, time.Local)},
		{map[string]any{"time": "10:30:15", "days": 1.0}, time.Date(2026, 11, 27, 10, 30, 15, 0, time.Local)},
	}
	for _, c := range cases {
		got, err := PackTime(now, &getopt.Result{Values: c.vals})
		if err != nil {
			t.Fatal(err)
		}
		if want := float64(c.want.Unix()); got != want {
			t.Errorf("%v: %v, want %v", c.vals, got, want)
		}
	}
	if _, err := PackTime(now, &getopt.Result{Values: map[string]any{"time": "1:2:3:4"}}); err == nil {
		t.Error("four-part time accepted")
	}
}
