package zconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoadZEOConf parses and schema-checks a realistic zeo.conf
// (TLS, three storages, two log files, a <runner> runzeo skips), the
// work runzeo and zdctl do at start-up.
func BenchmarkLoadZEOConf(b *testing.B) {
	home := b.TempDir()
	for _, d := range []string{"etc", "var", "log"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	data, err := os.ReadFile("testdata/full-zeo.conf")
	if err != nil {
		b.Fatal(err)
	}
	text := []byte(strings.ReplaceAll(string(data), "@HOME@", home))
	name := filepath.Join(home, "etc", "zeo.conf")
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ZEOSchema.Load(bytes.NewReader(text), name); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is the syntax layer alone on the same file.
func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile("testdata/full-zeo.conf")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), "zeo.conf", ParseOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
