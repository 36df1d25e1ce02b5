package fsstorage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// TestMain lets the crash test run this test binary as a separate
// server process (ZDKIT_GC_SERVE=Data.fs) that it can kill -9.
func TestMain(m *testing.M) {
	if path := os.Getenv("ZDKIT_GC_SERVE"); path != "" {
		serveForever(path)
		return
	}
	os.Exit(m.Run())
}

func serveForever(path string) {
	st, err := Open(path, filestorage.Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", l.Addr())
	srv.Serve(l)
}

func openServer(t *testing.T, path string, setup ...func(*Storage)) string {
	t.Helper()
	st, err := Open(path, filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range setup {
		f(st)
	}
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

type clientLog struct {
	mu       sync.Mutex
	received []tid.TID // invalidations, in arrival order
	own      []tid.TID
	// seenAt[i]: how many invalidations had arrived when own[i]'s
	// tpc_finish reply did.
	seenAt []int
}

// Group commit keeps ZEO's ordering rules (docs/design/commit.md, "Ordering"):
// every client gets the invalidations of all other commits, in strictly
// increasing tid order, never its own, and a committer's tpc_finish
// reply comes after the invalidations of every commit with a smaller tid.
// Conflicting commits on a shared object are detected against commits
// not yet durable.
func TestGroupCommitOrdering(t *testing.T) {
	addr := openServer(t, filepath.Join(t.TempDir(), "Data.fs"))
	const nClients, perClient = 8, 25
	logs := make([]*clientLog, nClients)
	clients := make([]*client.Client, nClients)
	for i := range clients {
		lg := &clientLog{}
		logs[i] = lg
		c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 10 * time.Second,
			OnInvalidate: func(t tid.TID, oids []storage.OID) {
				lg.mu.Lock()
				lg.received = append(lg.received, t)
				lg.mu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	// Object 1000 is shared: every client increments it, resolving
	// conflicts by retrying with the committed serial.
	var wg sync.WaitGroup
	errs := make(chan error, nClients)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var serial, sharedSerial tid.TID
			for j := 0; j < perClient; j++ {
				tx, err := c.Begin("", "", nil)
				if err != nil {
					errs <- err
					return
				}
				tx.Store(storage.OID(i+1), serial, []byte(fmt.Sprintf("c%d-%d", i, j)))
				withShared := j%5 == 0
				if withShared {
					tx.Store(1000, sharedSerial, []byte(fmt.Sprintf("shared by %d", i)))
				}
				cf, _, err := tx.Vote()
				for err == nil && len(cf) > 0 {
					if cf[0].OID != 1000 {
						errs <- fmt.Errorf("conflict on %s", cf[0].OID)
						return
					}
					// Resolve: store again on the committed serial.
					sharedSerial = cf[0].Committed
					tx.Store(1000, sharedSerial, []byte(fmt.Sprintf("shared by %d, resolved", i)))
					cf, _, err = tx.Vote()
				}
				if err != nil {
					errs <- err
					return
				}
				nt, err := tx.Finish()
				if err != nil {
					errs <- err
					return
				}
				serial = nt
				if withShared {
					sharedSerial = nt
				}
				lg := logs[i]
				lg.mu.Lock()
				lg.own = append(lg.own, nt)
				lg.seenAt = append(lg.seenAt, len(lg.received))
				lg.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Let the last invalidations arrive.
	all := map[tid.TID]int{}
	for i, lg := range logs {
		for _, x := range lg.own {
			if _, dup := all[x]; dup {
				t.Fatalf("tid %v committed twice", x)
			}
			all[x] = i
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, lg := range logs {
		for {
			lg.mu.Lock()
			n := len(lg.received)
			lg.mu.Unlock()
			if n >= len(all)-len(lg.own) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		lg.mu.Lock()
		rec := slices.Clone(lg.received)
		lg.mu.Unlock()
		if len(rec) != len(all)-perClient {
			t.Errorf("client %d: %d invalidations, want %d", i, len(rec), len(all)-perClient)
		}
		for k := 1; k < len(rec); k++ {
			if rec[k] <= rec[k-1] {
				t.Fatalf("client %d: invalidation %v after %v", i, rec[k], rec[k-1])
			}
		}
		got := map[tid.TID]bool{}
		for _, x := range rec {
			if all[x] == i {
				t.Errorf("client %d got its own invalidation %v", i, x)
			}
			got[x] = true
		}
		for k, mine := range lg.own {
			seen := map[tid.TID]bool{}
			for _, x := range rec[:lg.seenAt[k]] {
				seen[x] = true
			}
			for x, who := range all {
				if who != i && x < mine && !seen[x] {
					t.Fatalf("client %d: tpc_finish reply %v came before the invalidation of %v", i, mine, x)
				}
			}
		}
	}
}

// kill -9 of the server process during concurrent commits: after
// reopening, every transaction whose tpc_finish was acknowledged is in
// Data.fs with its data, and the file passes fstest.
func TestGroupCommitCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "ZDKIT_GC_SERVE="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killed := false
		t.Cleanup(func() {
			if !killed {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "ADDR ") {
			t.Fatalf("server said %q, %v", line, err)
		}
		go io.Copy(io.Discard, out)
		addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))

		type ack struct {
			oid  storage.OID
			tid  tid.TID
			data string
		}
		var mu sync.Mutex
		var acked []ack
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				oid := storage.OID(100*round + i + 1)
				var serial tid.TID
				for j := 0; ; j++ {
					tx, err := c.Begin("", "", nil)
					if err != nil {
						return
					}
					data := fmt.Sprintf("round %d client %d commit %d", round, i, j)
					tx.Store(oid, serial, []byte(data))
					if _, _, err := tx.Vote(); err != nil {
						return
					}
					nt, err := tx.Finish()
					if err != nil {
						return
					}
					serial = nt
					mu.Lock()
					acked = append(acked, ack{oid, nt, data})
					mu.Unlock()
				}
			}()
		}
		time.Sleep(400 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		killed = true
		cmd.Wait()
		wg.Wait()
		if len(acked) == 0 {
			t.Fatal("no commit was acknowledged before the kill")
		}
		// Reopen as the next server would (cutting a 'c' tail), then check.
		fs, err := filestorage.Open(path, filestorage.Options{})
		if err != nil {
			t.Fatalf("reopen after kill: %v", err)
		}
		last := map[storage.OID]ack{}
		for _, a := range acked {
			d, err := fs.LoadSerial(filestorage.Oid(a.oid), a.tid)
			if err != nil || string(d) != a.data {
				t.Errorf("acknowledged %v of %s: %q, %v", a.tid, a.oid, d, err)
			}
			if a.tid > last[a.oid].tid {
				last[a.oid] = a
			}
		}
		var newest tid.TID
		for _, a := range acked {
			newest = max(newest, a.tid)
		}
		if fs.LastTransaction() < newest {
			t.Errorf("last transaction %v is before an acknowledged one", fs.LastTransaction())
		}
		fs.Close()
		if err := filestorage.Check(path, filestorage.CheckOptions{}); err != nil {
			t.Fatalf("fstest after kill: %v", err)
		}
		t.Logf("round %d: %d acknowledged commits survived the kill", round, len(acked))
	}
}

// Group commits mixed with transactions that take the storage-wide lock
// (undo) and with pack: each waits for the pipeline to drain, nothing
// deadlocks, every commit succeeds and the file passes fstest.
func TestGroupCommitMixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	t.Cleanup(func() { // runs after the server's cleanup closed Data.fs
		if err := filestorage.Check(path, filestorage.CheckOptions{}); err != nil {
			t.Errorf("fstest: %v", err)
		}
	})
	// The objects here are raw bytes, not pickles that reach them from a
	// root, so pack's garbage collection (ZODB's, which starts at oid 0)
	// would refuse the storage or drop them depending on when the pack
	// lands; this test is about the pipeline, so pack without GC.
	addr := openServer(t, path, func(s *Storage) { s.NoPackGC = true })
	dial := func() *client.Client {
		c, err := client.Dial(context.Background(), []string{addr}, client.Options{Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	one := func(c *client.Client, oid storage.OID, serial tid.TID, data string) (tid.TID, error) {
		tx, err := c.Begin("", "", nil)
		if err != nil {
			return 0, err
		}
		tx.Store(oid, serial, []byte(data))
		if cf, _, err := tx.Vote(); err != nil || len(cf) > 0 {
			return 0, fmt.Errorf("vote: %v %v", cf, err)
		}
		return tx.Finish()
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := 0; i < 4; i++ {
		c := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var serial tid.TID
			for j := 0; j < 40; j++ {
				var err error
				if serial, err = one(c, storage.OID(10+i), serial, fmt.Sprint("v", j)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // undo the last transaction, five times
		defer wg.Done()
		c := dial()
		var serial tid.TID
		for j := 0; j < 5; j++ {
			var err error
			if serial, err = one(c, 1, serial, fmt.Sprint("u", j)); err != nil {
				errs <- err
				return
			}
			tx, err := c.Begin("", "undo", nil)
			if err != nil {
				errs <- err
				return
			}
			tx.Undo([]byte(filestorage.UndoID(serial)))
			_, oids, err := tx.Vote()
			if err != nil || len(oids) != 1 || oids[0] != 1 {
				errs <- fmt.Errorf("undo vote: %v %v", oids, err)
				return
			}
			if serial, err = tx.Finish(); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(20 * time.Millisecond)
		if _, err := dial().Call("pack", float64(time.Now().Unix()), true); err != nil {
			errs <- fmt.Errorf("pack: %v", err)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := dial()
	for i := 0; i < 4; i++ {
		if d, _, err := c.Load(storage.OID(10 + i)); err != nil || string(d) != "v39" {
			t.Errorf("object %d: %q %v", 10+i, d, err)
		}
	}
}
