package filestorage

import (
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// The benchmarks share one generated file: ZDKIT_FS_BENCH_OBJECTS
// objects (default 300000; the figures use 3000000), one
// revision each, 64-byte pickles (106-byte records, as ZODB writes them),
// 1000 objects per transaction.
var (
	benchOnce sync.Once
	benchDir  string
	benchPath string
	benchN    int
	benchErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchFile(b *testing.B) string {
	benchOnce.Do(func() {
		benchN = 300000
		if v, err := strconv.Atoi(os.Getenv("ZDKIT_FS_BENCH_OBJECTS")); err == nil && v > 0 {
			benchN = v
		}
		benchDir, benchErr = os.MkdirTemp("", "fsbench")
		if benchErr != nil {
			return
		}
		benchPath = filepath.Join(benchDir, "Data.fs")
		s, err := Open(benchPath, Options{NoSync: true})
		if err != nil {
			benchErr = err
			return
		}
		data := make([]byte, 64)
		for i := range data {
			data[i] = byte('a' + i%26)
		}
		for oid := 0; oid < benchN; {
			x, err := s.Begin(TxnMeta{})
			if err != nil {
				benchErr = err
				return
			}
			for k := 0; k < 1000 && oid < benchN; k++ {
				x.Store(Oid(oid), 0, data)
				oid++
			}
			if benchErr = x.Vote(); benchErr != nil {
				return
			}
			if _, benchErr = x.Finish(); benchErr != nil {
				return
			}
		}
		benchErr = s.Close()
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

func fileSize(b *testing.B, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkOpenWithIndex: read-only open using the saved .index.
func BenchmarkOpenWithIndex(b *testing.B) {
	p := benchFile(b)
	b.ResetTimer()
	var s *FileStorage
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		b.StartTimer()
		var err error
		s, err = Open(p, Options{ReadOnly: true})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if s.Len() != benchN {
			b.Fatalf("len %d", s.Len())
		}
		b.ReportMetric(float64(heapInUse()-before)/float64(benchN), "heapB/object")
		s.Close()
	}
}

// BenchmarkOpenNoIndex: read-only open that scans the whole file.
func BenchmarkOpenNoIndex(b *testing.B) {
	src := benchFile(b)
	p := filepath.Join(b.TempDir(), "Data.fs")
	if err := os.Link(src, p); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fileSize(b, p))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		if s.Len() != benchN {
			b.Fatalf("len %d", s.Len())
		}
		s.Close()
	}
	b.ReportMetric(float64(benchN)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkIndexLoad: parsing the .index file alone.
func BenchmarkIndexLoad(b *testing.B) {
	p := benchFile(b) + ".index"
	b.SetBytes(fileSize(b, p))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, idx, err := ReadIndex(p); err != nil || idx.Len() != benchN {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	s, err := Open(benchFile(b), Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := s.Load(Oid(rng.Intn(benchN))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
}

func BenchmarkLoadParallel(b *testing.B) {
	s, err := Open(benchFile(b), Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewSource(rand.Int63()))
		for pb.Next() {
			if _, _, err := s.Load(Oid(rng.Intn(benchN))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "loads/s")
}

func BenchmarkLoadBefore(b *testing.B) {
	s, err := Open(benchFile(b), Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewSource(1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, _, err := s.LoadBefore(Oid(rng.Intn(benchN)), tid.Max); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit1000: transactions of 1000 new 64-byte objects, with
// the fsyncs of a real commit (vote and finish) or without (NoSync).
func BenchmarkCommit1000(b *testing.B) {
	for _, mode := range []string{"fsync", "nosync"} {
		b.Run(mode, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "Data.fs"), Options{NoSync: mode == "nosync"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, 64)
			b.SetBytes(1000 * (42 + 64))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				oids, _ := s.NewOids(1000)
				x, err := s.Begin(TxnMeta{})
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range oids {
					if err := x.Store(o, 0, data); err != nil {
						b.Fatal(err)
					}
				}
				if err := x.Vote(); err != nil {
					b.Fatal(err)
				}
				if _, err := x.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
