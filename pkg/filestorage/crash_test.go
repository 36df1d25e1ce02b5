package filestorage

import (
	"bufio"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
)

// crashWriter runs in a child process: it commits transactions (with
// real fsyncs) forever and prints each finished tid.
func crashWriter(path string) {
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "writer open:", err)
		os.Exit(3)
	}
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; ; i++ {
		oids, _ := s.NewOids(1 + rng.Intn(5))
		x, err := s.Begin(TxnMeta{User: []byte("/ crash"), Description: []byte(fmt.Sprintf("txn %d", i))})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		serial, _ := s.GetTid(0)
		if err := x.Store(0, serial, []byte(fmt.Sprintf("root %d", i))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for _, o := range oids {
			x.Store(o, 0, []byte(strings.Repeat("x", rng.Intn(3000)+1)))
		}
		if rng.Intn(10) == 0 {
			x.Abort()
			continue
		}
		if err := x.Vote(); err != nil {
			os.Exit(3)
		}
		t, err := x.Finish()
		if err != nil {
			os.Exit(3)
		}
		fmt.Printf("%s\n", t.Hex())
	}
}

func TestCrashWriterHelper(t *testing.T) {
	if p := os.Getenv("ZDKIT_FS_CRASH_WRITER"); p != "" {
		crashWriter(p)
	}
	t.Skip("helper process for TestCrashKill")
}

// TestCrashKill kills a real writer process with SIGKILL at random
// points, many times. Every reopen must succeed, the file must pass
// fstest with pointer checks, and every transaction the writer reported
// finished must be there.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	p := filepath.Join(t.TempDir(), "Data.fs")
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	finished := map[tid.TID]bool{}
	for round := 0; round < 25; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterHelper$")
		cmd.Env = append(os.Environ(), "ZDKIT_FS_CRASH_WRITER="+p)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var lines []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
			}
			io.Copy(io.Discard, out)
		}()
		time.Sleep(time.Duration(20+rng.Intn(200)) * time.Millisecond)
		cmd.Process.Kill()
		<-done
		cmd.Wait()
		if strings.Contains(stderr.String(), "writer open") {
			t.Fatalf("round %d: writer could not open: %s", round, stderr.String())
		}
		mu.Lock()
		for _, l := range lines {
			v, err := tid.ParseHex(l)
			if err != nil {
				t.Fatalf("bad line %q", l)
			}
			finished[v] = true
		}
		mu.Unlock()

		s, err := Open(p, Options{})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if err := Check(p, CheckOptions{Pointers: true}); err != nil {
			t.Fatalf("round %d: fstest: %v", round, err)
		}
		have := map[tid.TID]bool{}
		it := s.Iterate(0, 0)
		for {
			tr, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("round %d: iterate: %v", round, err)
			}
			have[tr.TID] = true
		}
		for v := range finished {
			if !have[v] {
				t.Fatalf("round %d: finished transaction %s lost", round, v.Hex())
			}
		}
		if len(finished) > 0 {
			if _, _, err := s.Load(0); err != nil {
				t.Fatalf("round %d: load root: %v", round, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(finished) == 0 {
		t.Fatal("the writer never finished a transaction")
	}
	trs, _ := filepath.Glob(p + ".tr*")
	t.Logf("%d finished transactions survived 25 kills; %d incomplete tails were cut off", len(finished), len(trs))
}
