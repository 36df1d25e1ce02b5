package cachesimul

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// FuzzSimulate feeds arbitrary bytes as a trace: the simulation never
// fails or panics (Python's crashes are fixed), and always ends with the
// dashed line.
func FuzzSimulate(f *testing.F) {
	for _, name := range []string{"tiny.zec.trace", "idle.zec.trace"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, kb uint16) {
		var out bytes.Buffer
		opt := Options{Size: 13 + int64(kb)*16, Interval: 60, Rearrange: 0.8}
		if err := Simulate(bytes.NewReader(data), &out, opt); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "\n"+strings.Repeat("-", 74)+"\n") {
			t.Fatalf("no dashes:\n%s", out.String())
		}
	})
}
