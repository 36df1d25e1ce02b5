package stress

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// TestKillDuringPack kills runzeo with SIGKILL while it packs a file
// with many old revisions, then checks that the storage opens, passes
// fstest, and every object reads its last acknowledged revision. 3
// rounds, 20 with ZDKIT_STRESS=1.
func TestKillDuringPack(t *testing.T) {
	t.Parallel()
	rounds := 3
	if stressMode() {
		rounds = 20
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "", "  pack-gc false")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	h := &history{cur: map[storage.OID]tid.TID{}, dat: map[storage.OID]string{}}
	var oids []storage.OID
	killedMidPack, packsFinished := 0, 0
	for round := 0; round < rounds; round++ {
		p := startZEO(t, dir, addr, conf)
		c := dial(t, addr, client.Options{})
		if round > 0 {
			fstest(t, path)
			h.verify(t, c)
		} else {
			var err error
			if oids, err = c.NewOIDs(10); err != nil {
				t.Fatal(err)
			}
		}
		// New history for the pack to throw away: 300 transactions.
		for i := 0; i < 300; i++ {
			if err := h.commit(t, c, oids, fmt.Sprintf("round %d rev %d", round, i), 2000); err != nil {
				t.Fatal(err)
			}
		}
		packed := make(chan error, 1)
		go func() {
			_, err := c.Call("pack", float64(time.Now().Add(time.Second).UnixNano())/1e9, true)
			packed <- err
		}()
		// Kill once the pack file exists (the pack is copying), a
		// random moment later.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if _, err := os.Stat(path + ".pack"); err == nil {
				break
			}
			select {
			case err := <-packed:
				packed <- err
				deadline = time.Now()
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		p.kill()
		if err := <-packed; err == nil {
			packsFinished++
		} else {
			killedMidPack++
		}
		c.Close()
	}
	p := startZEO(t, dir, addr, conf)
	fstest(t, path)
	c := dial(t, addr, client.Options{})
	h.verify(t, c)
	// The storage still packs after all that.
	if _, err := c.Call("pack", float64(time.Now().Add(time.Second).UnixNano())/1e9, true); err != nil {
		t.Fatalf("pack after the kills: %v", err)
	}
	h.verify(t, c)
	c.Close()
	p.stop()
	fstest(t, path)
	left, _ := filepath.Glob(path + ".pack")
	for _, f := range left {
		if fi, err := os.Stat(f); err == nil {
			t.Logf("left behind: %s (%d bytes)", f, fi.Size())
		}
	}
	report(t, "rounds %d, SIGKILLs during pack %d (packs that had already answered %d), every object at its acknowledged revision after each restart",
		rounds, killedMidPack, packsFinished)
}
