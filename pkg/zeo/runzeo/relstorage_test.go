package runzeo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// frontEnd is one runzeo process serving a PostgreSQL database.
type frontEnd struct {
	proc *runzeoProc
	sock string
}

// startFrontEnd starts runzeo with a <relstorage> section on dsn and
// waits until it accepts a client.
func startFrontEnd(t testing.TB, dsn string, extra string) *frontEnd {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgfe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "zeo.sock")
	conf := filepath.Join(dir, "zeo.conf")
	text := fmt.Sprintf(`%%import relstorage
<zeo>
  address %s
  transaction-timeout 30
</zeo>
<relstorage 1>
  poll-interval 0.05
  commit-lock-timeout 10
%s
  <postgresql>
    dsn %s
  </postgresql>
</relstorage>
`, sock, extra, dsn)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startRunzeo(t, "", "-C", conf)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := client.Dial(context.Background(), []string{sock}, client.Options{Timeout: 2 * time.Second})
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("runzeo exited at start:\n%s", p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("runzeo on PostgreSQL not serving after 30 s: %v\n%s", err, p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &frontEnd{proc: p, sock: sock}
}

// watcher is a client that records every invalidation it gets.
type watcher struct {
	*client.Client
	mu   sync.Mutex
	tids []tid.TID
	oids map[tid.TID][]storage.OID
	got  chan tid.TID
}

func dialWatcher(t *testing.T, fe *frontEnd) *watcher {
	t.Helper()
	w := &watcher{oids: map[tid.TID][]storage.OID{}, got: make(chan tid.TID, 1000)}
	c, err := client.Dial(context.Background(), []string{fe.sock}, client.Options{Timeout: 10 * time.Second,
		OnInvalidate: func(t tid.TID, oids []storage.OID) {
			w.mu.Lock()
			w.tids = append(w.tids, t)
			w.oids[t] = oids
			w.mu.Unlock()
			w.got <- t
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w.Client = c
	return w
}

// waitFor waits until w has an invalidation for tid t.
func (w *watcher) waitFor(t *testing.T, want tid.TID) []storage.OID {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		oids, ok := w.oids[want]
		w.mu.Unlock()
		if ok {
			return oids
		}
		select {
		case <-w.got:
		case <-deadline:
			t.Fatalf("no invalidation for %s within 10 s (have %v)", want, w.tids)
		}
	}
}

// increasing checks that the invalidation tids came strictly in order.
func (w *watcher) increasing(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := 1; i < len(w.tids); i++ {
		if w.tids[i] <= w.tids[i-1] {
			t.Fatalf("invalidation tid went backwards: %s after %s", w.tids[i], w.tids[i-1])
		}
	}
}

func commitOne(t *testing.T, c *client.Client, oid storage.OID, serial tid.TID, data string) tid.TID {
	t.Helper()
	tx, err := c.Begin("u", "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Store(oid, serial, []byte(data)); err != nil {
		t.Fatal(err)
	}
	conflicts, _, err := tx.Vote()
	if err != nil || len(conflicts) > 0 {
		tx.Abort()
		t.Fatalf("vote: %v %+v", err, conflicts)
	}
	n, err := tx.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Two runzeo front ends on one database: a commit through one is seen
// through the other (invalidation and load), and a stale store through
// the other comes back from vote as a conflict to resolve.
func TestRelStorageTwoFrontEnds(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	a := startFrontEnd(t, dsn, "")
	b := startFrontEnd(t, dsn, "")
	ca, cb := dialWatcher(t, a), dialWatcher(t, b)
	oids, err := ca.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	oid := oids[0]
	t1 := commitOne(t, ca.Client, oid, 0, "v1")
	if got := cb.waitFor(t, t1); len(got) != 1 || got[0] != oid {
		t.Fatalf("front end b invalidated %v for %s, want [%s]", got, t1, oid)
	}
	data, serial, err := cb.Load(oid)
	if err != nil || string(data) != "v1" || serial != t1 {
		t.Fatalf("load through b = %q %s %v, want v1 at %s", data, serial, err, t1)
	}
	if last, err := cb.LastTransaction(); err != nil || last < t1 {
		t.Fatalf("b lastTransaction = %s %v, want >= %s", last, err, t1)
	}
	t2 := commitOne(t, cb.Client, oid, t1, "v2")
	ca.waitFor(t, t2)
	// Through a, a store based on t1 now conflicts with b's t2.
	tx, err := ca.Begin("u", "stale", nil)
	if err != nil {
		t.Fatal(err)
	}
	tx.Store(oid, t1, []byte("v3"))
	conflicts, _, err := tx.Vote()
	tx.Abort()
	if err != nil || len(conflicts) != 1 || conflicts[0].OID != oid || conflicts[0].Committed != t2 ||
		conflicts[0].Read != t1 || string(conflicts[0].Data) != "v3" {
		t.Fatalf("stale vote = %+v %v, want one conflict on %s (committed %s, read %s)", conflicts, err, oid, t2, t1)
	}
	// loadBefore is exact across front ends.
	d, start, end, ok, err := ca.LoadBefore(oid, t2)
	if err != nil || !ok || string(d) != "v1" || start != t1 || end != t2 {
		t.Fatalf("loadBefore(t2) via a = %q %s %s %v %v", d, start, end, ok, err)
	}
	ca.increasing(t)
	cb.increasing(t)
}

// A client that goes away between vote and finish, or a front end
// killed there, leaves no lock behind: the object can be committed at
// once through the other front end.
func TestRelStorageVanishedCommitterFreesLocks(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	a := startFrontEnd(t, dsn, "")
	b := startFrontEnd(t, dsn, "")
	ca, cb := dialWatcher(t, a), dialWatcher(t, b)
	oids, _ := ca.NewOIDs(1)
	oid := oids[0]
	serial := commitOne(t, ca.Client, oid, 0, "0")
	cb.waitFor(t, serial)

	voteThenVanish := func(kill func()) {
		c, err := client.Dial(context.Background(), []string{a.sock}, client.Options{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tx, _ := c.Begin("u", "vanishing", nil)
		tx.Store(oid, serial, []byte("never"))
		if conflicts, _, err := tx.Vote(); err != nil || len(conflicts) > 0 {
			t.Fatalf("vote: %v %v", conflicts, err)
		}
		kill()
		c.Close()
	}
	voteThenVanish(func() {})
	start := time.Now()
	serial = commitOne(t, cb.Client, oid, serial, "1")
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("commit after a vanished client waited %s (for the lock timeout)", d)
	}
	// The same with the front end killed by SIGKILL while it holds the
	// object lock: PostgreSQL rolls its session back.
	voteThenVanish(func() { a.proc.cmd.Process.Signal(syscall.SIGKILL); <-a.proc.exited })
	serial = commitOne(t, cb.Client, oid, serial, "2")
	if d, s, err := cb.Load(oid); err != nil || string(d) != "2" || s != serial {
		t.Fatalf("load = %q %s %v", d, s, err)
	}
}

// Writers on three front ends increment one counter: every increment
// that was acknowledged is counted exactly once, each sees the others'
// commits, and no client sees a tid go backwards.
func TestRelStorageCountUnderContention(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	fes := []*frontEnd{startFrontEnd(t, dsn, ""), startFrontEnd(t, dsn, ""), startFrontEnd(t, dsn, "")}
	w0 := dialWatcher(t, fes[0])
	oids, _ := w0.NewOIDs(1)
	counter := oids[0]
	commitOne(t, w0.Client, counter, 0, "0")
	const writers, perWriter = 6, 10
	var wg sync.WaitGroup
	var ws []*watcher
	errs := make(chan error, writers*2)
	// Per writer: its commits, and how many invalidations it had when
	// each tpc_finish returned.
	own := make([][]tid.TID, writers)
	seenAt := make([][]int, writers)
	// Every writer registers before anyone commits, so each must hear
	// of every commit but its own.
	for i := 0; i < writers; i++ {
		ws = append(ws, dialWatcher(t, fes[i%len(fes)]))
	}
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < perWriter; {
				data, serial, err := w.Load(counter)
				if err != nil {
					errs <- err
					return
				}
				v, _ := strconv.Atoi(string(data))
				tx, err := w.Begin("u", "inc", nil)
				if err != nil {
					errs <- err
					return
				}
				tx.Store(counter, serial, []byte(strconv.Itoa(v+1)))
				conflicts, _, err := tx.Vote()
				if err != nil || len(conflicts) > 0 {
					tx.Abort()
					var se *client.ServerError
					if err != nil && !errors.As(err, &se) {
						errs <- err
						return
					}
					time.Sleep(time.Millisecond)
					continue // retry from a fresh load
				}
				newTid, err := tx.Finish()
				if err != nil {
					errs <- err
					return
				}
				// The client's reader may already have taken the
				// invalidations sent after the reply (it runs ahead of
				// this goroutine), so only what must have come before
				// is checked, below: every smaller tid.
				w.mu.Lock()
				own[i] = append(own[i], newTid)
				seenAt[i] = append(seenAt[i], len(w.tids))
				w.mu.Unlock()
				n++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, _, err := w0.Load(counter)
	if err != nil || string(data) != strconv.Itoa(writers*perWriter) {
		t.Fatalf("counter = %q %v, want %d", data, err, writers*perWriter)
	}
	// Every front end serves the final value.
	for i, fe := range fes {
		w := dialWatcher(t, fe)
		if d, _, err := w.Load(counter); err != nil || string(d) != strconv.Itoa(writers*perWriter) {
			t.Errorf("front end %d: counter = %q %v", i, d, err)
		}
	}
	for _, w := range ws {
		w.increasing(t)
	}
	// ZEO's ordering rule: a committer has the invalidations of every
	// commit with a smaller tid, from any front end, before its own
	// tpc_finish reply.
	committer := map[tid.TID]int{}
	for i := range own {
		for _, x := range own[i] {
			if _, dup := committer[x]; dup {
				t.Fatalf("tid %s committed twice", x)
			}
			committer[x] = i
		}
	}
	for i, w := range ws {
		w.mu.Lock()
		rec := slices.Clone(w.tids)
		w.mu.Unlock()
		for k, mine := range own[i] {
			before := map[tid.TID]bool{}
			for _, x := range rec[:seenAt[i][k]] {
				before[x] = true
			}
			for x, who := range committer {
				if x < mine && who != i && !before[x] {
					t.Errorf("writer %d: commit %s answered before the invalidation of %s", i, mine, x)
				}
			}
		}
	}
}

// Unsupported <relstorage> keys stop runzeo with an error naming them.
func TestRelStorageUnsupportedKey(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "zeo.conf")
	os.WriteFile(conf, []byte("%import relstorage\n<zeo>\n address 127.0.0.1:0\n</zeo>\n<relstorage>\n cache-local-mb 100\n <postgresql>\n  dsn dbname=x\n </postgresql>\n</relstorage>\n"), 0o644)
	var out strings.Builder
	if code := Main([]string{"runzeo", "-C", conf}, &out, &out); code != 2 || !strings.Contains(out.String(), "cache-local-mb") {
		t.Fatalf("exit %d, output %q: want 2 and an error naming cache-local-mb", code, out.String())
	}
	os.WriteFile(conf, []byte("<zeo>\n address 127.0.0.1:0\n</zeo>\n<relstorage>\n <postgresql>\n  dsn dbname=x\n </postgresql>\n</relstorage>\n"), 0o644)
	out.Reset()
	if code := Main([]string{"runzeo", "-C", conf}, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown type name: 'relstorage'") {
		t.Fatalf("without %%import: exit %d, output %q", code, out.String())
	}
}

// One front end holds several transactions between vote and finish: a
// client's vote on other objects does not wait for another client's
// tpc_finish (the object locks are the database's).
func TestRelStorageConcurrentVotes(t *testing.T) {
	fe := startFrontEnd(t, pgsandbox.NewDatabase(t), "")
	a, b := dialWatcher(t, fe), dialWatcher(t, fe)
	oids, _ := a.NewOIDs(2)
	ta, err := a.Begin("u", "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	ta.Store(oids[0], 0, []byte("a"))
	if c, _, err := ta.Vote(); err != nil || len(c) > 0 {
		t.Fatalf("vote a: %v %v", c, err)
	}
	done := make(chan error, 1)
	began := time.Now()
	go func() {
		tb, err := b.Begin("u", "b", nil)
		if err == nil {
			tb.Store(oids[1], 0, []byte("b"))
			_, _, err = tb.Vote()
			if err == nil {
				_, err = tb.Finish()
			}
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("b committed in %s while a was voted", time.Since(began))
	case <-time.After(10 * time.Second):
		t.Fatal("b's commit waited for a's tpc_finish")
	}
	tidA, err := ta.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if d, s, err := b.Load(oids[0]); err != nil || string(d) != "a" || s != tidA {
		t.Fatalf("load of a's object = %q %s %v", d, s, err)
	}
}
