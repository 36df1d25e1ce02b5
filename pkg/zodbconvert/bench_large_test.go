package zodbconvert

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/zeobench"
)

// BenchmarkConvertLargeDataFS converts one generated Data.fs
// (zeobench's generator: 1000 objects of 64 bytes per transaction;
// ZDKIT_CONVERT_OBJECTS objects, 200,000 unless set) into a new Data.fs,
// a history-preserving and a history-free PostgreSQL database, one after
// the other in the same run, and reports each in objects/s and
// PostgreSQL's against FileStorage's. PostgreSQL runs with fsync and
// synchronous_commit on, as a deployment would. Run it once:
//
//	go test -run - -bench ConvertLarge -benchtime 1x ./pkg/zodbconvert
func BenchmarkConvertLargeDataFS(b *testing.B) {
	n := 200_000
	if v := os.Getenv("ZDKIT_CONVERT_OBJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("ZDKIT_CONVERT_OBJECTS=%q: want a positive number", v)
		}
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "big.fs")
	if err := zeobench.Generate(src, n, 64); err != nil {
		b.Fatal(err)
	}
	srv, err := pgsandbox.Start("fsync=on", "synchronous_commit=on", "full_page_writes=on")
	if err != nil {
		pgsandbox.Unavailable(b, "PostgreSQL server: %v", err)
	}
	defer srv.Stop()
	ctx := context.Background()
	var dbCPU, ownCPU float64 // of the last conversion, µs per object
	convert := func(dest string) float64 {
		cfg, err := Schema.Load(strings.NewReader("%import relstorage\n<filestorage source>\n path "+src+"\n read-only true\n</filestorage>\n"+dest), "bench.conf")
		if err != nil {
			b.Fatal(err)
		}
		start, db0, own0 := time.Now(), srv.CPUSeconds(), processCPU()
		if err := Run(ctx, cfg, Options{Out: io.Discard, Every: time.Hour}); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start).Seconds()
		dbCPU = (srv.CPUSeconds() - db0) * 1e6 / float64(n)
		ownCPU = (processCPU() - own0) * 1e6 / float64(n)
		return float64(n) / elapsed
	}
	pgDest := func(hp bool) string {
		db, err := srv.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return relstorage("destination", srv.DSN(db), hp)
	}
	b.ResetTimer()
	fs := convert("<filestorage destination>\n path " + filepath.Join(dir, "copy.fs") + "\n</filestorage>\n")
	fsOwn := ownCPU
	hp := convert(pgDest(true))
	hpDB, hpOwn := dbCPU, ownCPU
	hf := convert(pgDest(false))
	b.StopTimer()
	b.ReportMetric(fs, "fs-obj/s")
	b.ReportMetric(hp, "pg-hp-obj/s")
	b.ReportMetric(hf, "pg-hf-obj/s")
	b.ReportMetric(hp/fs, "hp/fs")
	b.ReportMetric(hf/fs, "hf/fs")
	b.Logf("%d objects: FileStorage %.0f obj/s, PostgreSQL HP %.0f obj/s (%.2fx), HF %.0f obj/s (%.2fx)", n, fs, hp, hp/fs, hf, hf/fs)
	b.Logf("CPU µs per object: FileStorage copy %.1f; HP database %.1f + zodbconvert %.1f; HF database %.1f + zodbconvert %.1f",
		fsOwn, hpDB, hpOwn, dbCPU, ownCPU)
}

// processCPU is this process's user+system CPU time in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
