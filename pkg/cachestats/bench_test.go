package cachestats_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/cachestats"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

// benchRecords is the trace length the issue asks figures for.
const benchRecords = 10_000_000

func genTrace(b *testing.B, n int) (string, int) {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.trace")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := cachetrace.Generate(f, n, 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	// Generate may overshoot by two records (a miss is three records).
	rf, _ := os.Open(p)
	defer rf.Close()
	rd := cachetrace.NewReader(rf)
	var rec cachetrace.Record
	count := 0
	for rd.Next(&rec) == nil {
		count++
	}
	return p, count
}

func benchStats(b *testing.B, opt cachestats.Options) {
	p, n := genTrace(b, benchRecords)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := cachestats.Report(context.Background(), f, io.Discard, opt); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Run with -benchtime=1x: each iteration reads a 10M-record trace.
func BenchmarkStatsDefault10M(b *testing.B) { benchStats(b, cachestats.Options{Interval: 900}) }
func BenchmarkStatsQuiet10M(b *testing.B) {
	benchStats(b, cachestats.Options{Quiet: true, Interval: 900})
}
func BenchmarkStatsVerbose10M(b *testing.B) {
	benchStats(b, cachestats.Options{Verbose: true, Interval: 900})
}
func BenchmarkStatsHistograms10M(b *testing.B) {
	benchStats(b, cachestats.Options{Histogram: true, Sizes: true, Interval: 900})
}
