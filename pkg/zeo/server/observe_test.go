package server

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// recorder is an Observer that keeps every timing it is given.
type recorder struct {
	mu       sync.Mutex
	loads    map[string][]time.Duration
	commits  map[string][]time.Duration
	syncs    map[string][]time.Duration
	syncTxns map[string]int
}

func newRecorder() *recorder {
	return &recorder{loads: map[string][]time.Duration{}, commits: map[string][]time.Duration{},
		syncs: map[string][]time.Duration{}, syncTxns: map[string]int{}}
}

func (r *recorder) Load(st string, d time.Duration) {
	r.mu.Lock()
	r.loads[st] = append(r.loads[st], d)
	r.mu.Unlock()
}

func (r *recorder) Commit(st string, d time.Duration) {
	r.mu.Lock()
	r.commits[st] = append(r.commits[st], d)
	r.mu.Unlock()
}

func (r *recorder) Sync(st string, d time.Duration, txns int) {
	r.mu.Lock()
	r.syncs[st] = append(r.syncs[st], d)
	r.syncTxns[st] += txns
	r.mu.Unlock()
}

// counts returns loads, commits, syncs and the transactions synced,
// failing t on a negative duration.
func (r *recorder) counts(t *testing.T, st string) (int, int, int, int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range [][]time.Duration{r.loads[st], r.commits[st], r.syncs[st]} {
		for _, d := range l {
			if d < 0 {
				t.Errorf("negative duration %v observed", d)
			}
		}
	}
	return len(r.loads[st]), len(r.commits[st]), len(r.syncs[st]), r.syncTxns[st]
}

// serveFile serves a real Data.fs as storage "fs" (the server closes it).
func serveFile(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	fs, err := fsstorage.Open(filepath.Join(t.TempDir(), "Data.fs"), filestorage.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(map[string]storage.Storage{"fs": fs}, opts)
	if err != nil {
		fs.Close()
		t.Fatal(err)
	}
	l, err := netListen()
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, l.Addr().String()
}

// The Observer sees each loadBefore, each committed transaction and each
// group sync of a real FileStorage, by the time the client has the reply
// (runzeo's latency histograms), with and without group commit.
func TestObserverSeesLoadsCommitsAndSyncs(t *testing.T) {
	for _, noGroup := range []bool{false, true} {
		srv, addr := serveFile(t, Options{NoGroupCommit: noGroup})
		rec := newRecorder()
		srv.SetObserver(rec)
		c := dial(t, addr, client.Options{Storage: "fs"})
		oids, err := c.NewOIDs(2)
		if err != nil {
			t.Fatal(err)
		}
		for _, oid := range oids {
			commit(t, c, nil, map[storage.OID][]byte{oid: []byte("x")})
		}
		for range 3 {
			if _, _, err := c.Load(oids[1]); err != nil {
				t.Fatal(err)
			}
		}
		// A conflicting vote is not a commit.
		tx, err := c.Begin("u", "conflict", nil)
		if err != nil {
			t.Fatal(err)
		}
		tx.Store(oids[0], tid.TID(0), []byte("stale"))
		if conflicts, _, err := tx.Vote(); err == nil && len(conflicts) == 0 {
			t.Fatal("stale store voted without a conflict")
		}
		tx.Abort()

		loads, commits, syncs, synced := rec.counts(t, "fs")
		if loads < 3 || commits != 2 {
			t.Errorf("noGroup=%v: %d loads, %d commits observed, want >= 3 and 2", noGroup, loads, commits)
		}
		if noGroup && (syncs != 0 || synced != 0) {
			t.Errorf("without group commit: %d syncs (%d txns) observed, want 0", syncs, synced)
		}
		if !noGroup && (syncs < 1 || syncs > 2 || synced != 2) {
			t.Errorf("group commit: %d syncs of %d txns, want 1 or 2 syncs of 2", syncs, synced)
		}
		if st, ok := srv.Status("fs"); ok {
			if n, _ := st.Get("loads"); n != int64(loads) {
				t.Errorf("server_status loads %v, observer saw %d", n, loads)
			}
		} else {
			t.Error("no server_status for fs")
		}

		// Removed: nothing more is observed.
		srv.SetObserver(nil)
		if _, _, err := c.Load(oids[1]); err != nil {
			t.Fatal(err)
		}
		if l, _, _, _ := rec.counts(t, "fs"); l != loads {
			t.Errorf("load observed after SetObserver(nil): %d -> %d", loads, l)
		}
	}
}
