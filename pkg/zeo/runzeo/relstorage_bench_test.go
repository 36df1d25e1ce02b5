package runzeo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeobench"
)

// benchServer is one runzeo process under load.
type benchServer struct {
	name string
	sock string
	pid  int
}

// BenchmarkPostgreSQLBesideFileStorage loads two runzeo processes in
// turn, in one run: one on a Data.fs, one on PostgreSQL (history-
// preserving, fsync and synchronous_commit on, WAL flush times tracked),
// so that the busy machine weighs on both alike. It reports
//
//   - 1000-object transactions (128-byte new objects, one client):
//     objects/s of each and PostgreSQL's over FileStorage's;
//   - one-object commits with 16 clients: commits/s of each, and for
//     PostgreSQL the commits per WAL flush (pg_stat_wal.wal_sync before
//     and after) and the mean flush time;
//   - CPU µs per object or commit of runzeo and of the database.
//
// Each load runs ZDKIT_BENCH_SECONDS (default 2) per round, two rounds
// per server, alternating. Run it once:
//
//	go test -run - -bench PostgreSQLBeside -benchtime 1x ./pkg/zeo/runzeo
func BenchmarkPostgreSQLBesideFileStorage(b *testing.B) {
	round := 2 * time.Second
	if v := os.Getenv("ZDKIT_BENCH_SECONDS"); v != "" {
		d, err := time.ParseDuration(v + "s")
		if err != nil {
			b.Fatalf("ZDKIT_BENCH_SECONDS=%q: %v", v, err)
		}
		round = d
	}
	settings := []string{"fsync=on", "synchronous_commit=on", "full_page_writes=on", "track_wal_io_timing=on"}
	statements := os.Getenv("ZDKIT_BENCH_STATEMENTS") == "1"
	if statements {
		// Where the database's time goes, statements inside the stored
		// functions included (costs a few per cent).
		settings = append(settings, "shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all")
	}
	srv, err := pgsandbox.Start(settings...)
	if err != nil {
		pgsandbox.Unavailable(b, "PostgreSQL server: %v", err)
	}
	defer srv.Stop()
	ctx := context.Background()
	db, err := srv.CreateDatabase(ctx)
	if err != nil {
		b.Fatal(err)
	}
	fe := startFrontEnd(b, srv.DSN(db), "")
	pg := benchServer{"PostgreSQL", fe.sock, fe.proc.cmd.Process.Pid}
	dir := b.TempDir()
	fsSock := filepath.Join(dir, "fs.sock")
	fsProc := startRunzeo(b, "", "-a", fsSock, "-f", filepath.Join(dir, "Data.fs"))
	fs := benchServer{"FileStorage", fsSock, fsProc.cmd.Process.Pid}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := client.Dial(ctx, []string{fsSock}, client.Options{Timeout: 2 * time.Second})
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("runzeo on a Data.fs not serving after 30 s: %v", err)
		}
	}
	admin, err := pgx.Connect(ctx, srv.DSN(db))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	if statements {
		if _, err := admin.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			b.Fatal(err)
		}
	}
	// topStatements logs where the database spent its time since the
	// last call, then resets the counts.
	topStatements := func(what string) {
		if !statements {
			return
		}
		rows, err := admin.Query(ctx, `SELECT calls, total_exec_time, left(regexp_replace(query, '\s+', ' ', 'g'), 90)
			FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 8`)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var calls int64
			var ms float64
			var q string
			if err := rows.Scan(&calls, &ms, &q); err != nil {
				b.Fatal(err)
			}
			// Printed, not logged: a benchmark's log is cut after a few lines.
			fmt.Printf("%s: %8d calls %9.1f ms (%.3f ms each) %s\n", what, calls, ms, ms/float64(calls), q)
		}
		rows.Close()
		admin.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	}
	walSyncs := func() (n int64, ms float64) {
		if err := admin.QueryRow(ctx, `SELECT wal_sync, wal_sync_time FROM pg_stat_wal`).Scan(&n, &ms); err != nil {
			b.Fatal(err)
		}
		return n, ms
	}

	type tally struct {
		ops, seconds, srvCPU, dbCPU float64
		syncs                       int64
		syncMS                      float64
	}
	// measure runs load on s for one round and adds it to t.
	measure := func(s benchServer, t *tally, load func(s benchServer, until time.Time) int) {
		syncs0, ms0 := walSyncs()
		cpu0, db0 := zeobench.CPUSeconds(s.pid), srv.CPUSeconds()
		start := time.Now()
		n := load(s, start.Add(round))
		t.seconds += time.Since(start).Seconds()
		t.ops += float64(n)
		t.srvCPU += zeobench.CPUSeconds(s.pid) - cpu0
		if s.pid == pg.pid {
			t.dbCPU += srv.CPUSeconds() - db0
			syncs1, ms1 := walSyncs()
			t.syncs += syncs1 - syncs0
			t.syncMS += ms1 - ms0
		}
	}

	bulk := func(s benchServer, until time.Time) int {
		c := benchClient(b, s)
		defer c.Close()
		data := make([]byte, 128)
		n := 0
		for time.Now().Before(until) {
			oids, err := c.NewOIDs(1000)
			if err != nil {
				b.Fatal(err)
			}
			tx, err := c.Begin("bench", "1000 objects", nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, oid := range oids {
				if err := tx.Store(oid, 0, data); err != nil {
					b.Fatal(err)
				}
			}
			if conflicts, _, err := tx.Vote(); err != nil || len(conflicts) > 0 {
				b.Fatalf("%s: vote: %v %v", s.name, err, conflicts)
			}
			if _, err := tx.Finish(); err != nil {
				b.Fatal(err)
			}
			n += len(oids)
		}
		return n
	}
	small := func(s benchServer, until time.Time) int {
		const clients = 16
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for i := 0; i < clients; i++ {
			c := benchClient(b, s)
			defer c.Close()
			oids, err := c.NewOIDs(1)
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serial, n := tid.TID(0), 0
				for time.Now().Before(until) {
					t, err := commitSmall(c, oids[0], serial)
					if err != nil {
						b.Errorf("%s: %v", s.name, err)
						return
					}
					serial, n = t, n+1
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		return total
	}

	var fsBulk, pgBulk, fsSmall, pgSmall tally
	if statements {
		admin.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	}
	b.ResetTimer()
	for r := 0; r < 2; r++ {
		measure(fs, &fsBulk, bulk)
		measure(pg, &pgBulk, bulk)
	}
	topStatements("1000-object transactions")
	for r := 0; r < 2; r++ {
		measure(fs, &fsSmall, small)
		measure(pg, &pgSmall, small)
	}
	topStatements("one-object commits")
	b.StopTimer()
	rate := func(t tally) float64 { return t.ops / t.seconds }
	us := func(sec, ops float64) float64 { return sec * 1e6 / ops }
	b.ReportMetric(rate(fsBulk), "fs-obj/s")
	b.ReportMetric(rate(pgBulk), "pg-obj/s")
	b.ReportMetric(rate(pgBulk)/rate(fsBulk), "pg/fs-bulk")
	b.ReportMetric(rate(fsSmall), "fs-commits/s")
	b.ReportMetric(rate(pgSmall), "pg-commits/s")
	b.ReportMetric(rate(pgSmall)/rate(fsSmall), "pg/fs-small")
	b.ReportMetric(pgSmall.ops/float64(pgSmall.syncs), "commits/walsync")
	b.Logf("1000-object transactions, 1 client: FileStorage %.0f obj/s, PostgreSQL %.0f obj/s (%.2fx); CPU µs/object: runzeo FS %.1f, runzeo PG %.1f + database %.1f; %.2f WAL flushes per transaction of 1000",
		rate(fsBulk), rate(pgBulk), rate(pgBulk)/rate(fsBulk),
		us(fsBulk.srvCPU, fsBulk.ops), us(pgBulk.srvCPU, pgBulk.ops), us(pgBulk.dbCPU, pgBulk.ops),
		float64(pgBulk.syncs)/(pgBulk.ops/1000))
	b.Logf("one-object commits, 16 clients: FileStorage %.0f/s, PostgreSQL %.0f/s (%.2fx); PostgreSQL %.2f commits per WAL flush, mean flush %.2f ms (%d flushes, %.0f%% of the time flushing); CPU µs/commit: runzeo FS %.0f, runzeo PG %.0f + database %.0f",
		rate(fsSmall), rate(pgSmall), rate(pgSmall)/rate(fsSmall),
		pgSmall.ops/float64(pgSmall.syncs), pgSmall.syncMS/float64(pgSmall.syncs), pgSmall.syncs,
		100*pgSmall.syncMS/1000/pgSmall.seconds,
		us(fsSmall.srvCPU, fsSmall.ops), us(pgSmall.srvCPU, pgSmall.ops), us(pgSmall.dbCPU, pgSmall.ops))
}

func benchClient(b *testing.B, s benchServer) *client.Client {
	c, err := client.Dial(context.Background(), []string{s.sock}, client.Options{Timeout: 60 * time.Second})
	if err != nil {
		b.Fatalf("%s: %v", s.name, err)
	}
	return c
}

// commitSmall commits one 100-byte state of oid.
func commitSmall(c *client.Client, oid storage.OID, serial tid.TID) (tid.TID, error) {
	tx, err := c.Begin("bench", "one object", nil)
	if err != nil {
		return 0, err
	}
	if err := tx.Store(oid, serial, make([]byte, 100)); err != nil {
		return 0, err
	}
	if conflicts, _, err := tx.Vote(); err != nil || len(conflicts) > 0 {
		tx.Abort()
		return 0, fmt.Errorf("vote: %v %v", err, conflicts)
	}
	return tx.Finish()
}
