package cachesimul

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

func benchSimul(b *testing.B, size int64) {
	p := filepath.Join(b.TempDir(), "bench.trace")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	const n = 10_000_000
	if err := cachetrace.Generate(f, n, 1); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		if err := Simulate(f, io.Discard, Options{Size: size, Interval: 900, Rearrange: 0.8}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// Run with -benchtime=1x: each iteration simulates a 10M-record trace.
func BenchmarkSimul20MB10M(b *testing.B)  { benchSimul(b, 20<<20) }
func BenchmarkSimul200MB10M(b *testing.B) { benchSimul(b, 200<<20) }
