package cachestats

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
)

// FuzzReport feeds arbitrary bytes as a trace to the full report (every
// option): it never panics and fails only for an empty trace.
func FuzzReport(f *testing.F) {
	for _, name := range []string{"tiny.zec.trace", "misaligned.trace", "only-restart.trace"} {
		b, err := os.ReadFile("testdata/fixtures/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		err := Report(context.Background(), bytes.NewReader(data), &out, Options{Verbose: true, Sizes: true, Histogram: true, Interval: 60})
		if err != nil && !errors.Is(err, ErrNoRecords) {
			t.Fatal(err)
		}
		if out.Len() == 0 {
			t.Fatal("no output")
		}
	})
}
