package repozo

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
)

// BenchmarkRepozo measures, on a Data.fs of about 32 MB (4 KB records,
// one a transaction): a full backup, an incremental backup of 64
// appended transactions by default (which reads the whole file and
// repository, as repozo.py does) and with -Q (which reads the last
// increment's range and the appended bytes), and a recovery. b.SetBytes
// is the Data.fs size, so MB/s is the Data.fs size over the time.
func BenchmarkRepozo(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "Data.fs")
	s, err := filestorage.Open(data, filestorage.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := bytes.Repeat([]byte("x"), 4096)
	commit := func(n int) {
		for i := 0; i < n; i++ {
			x, err := s.Begin(filestorage.TxnMeta{})
			if err != nil {
				b.Fatal(err)
			}
			oids, _ := s.NewOids(1)
			if err := x.Store(oids[0], 0, payload); err != nil {
				b.Fatal(err)
			}
			x.Vote()
			if _, err := x.Finish(); err != nil {
				b.Fatal(err)
			}
		}
	}
	commit(8000)
	st, _ := os.Stat(data)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	next := func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) }
	do := func(b *testing.B, args ...string) {
		o, err := parseArgs(args, os.Stderr)
		if err != nil {
			b.Fatal(err)
		}
		now := next()
		o.Now = func() time.Time { return now }
		o.Stdout, o.Log = nil, os.Stderr
		if err := Run(o); err != nil {
			b.Fatal(err)
		}
	}
	for _, mode := range []string{"full", "incremental", "incremental-quick", "recover"} {
		b.Run(mode, func(b *testing.B) {
			b.SetBytes(st.Size())
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				repo := filepath.Join(dir, fmt.Sprintf("repo-%s-%d", mode, i))
				os.Mkdir(repo, 0o755)
				if mode != "full" {
					do(b, "-B", "-r", repo, "-f", data)
					commit(64)
				}
				b.StartTimer()
				switch mode {
				case "full":
					do(b, "-B", "-r", repo, "-f", data)
				case "incremental":
					do(b, "-B", "-r", repo, "-f", data)
				case "incremental-quick":
					do(b, "-B", "-Q", "-r", repo, "-f", data)
				case "recover":
					do(b, "-R", "-r", repo, "-o", filepath.Join(dir, "out.fs"))
				}
				b.StopTimer()
				os.RemoveAll(repo)
				b.StartTimer()
			}
		})
	}
}
