package stress

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// TestLargeTransactionSpooled: one client sends 1,000 stores of 1 MiB
// in one transaction (100 in the normal run). runzeo keeps at most
// transaction-memory (16 MiB) of it in memory and spools the rest, so
// its peak RSS before the vote grows by far less than the transaction
// (it grew by 1.4 GiB before); the transaction commits intact.
// A second transaction over max-transaction-size fails at its vote.
func TestLargeTransactionSpooled(t *testing.T) {
	t.Parallel()
	stores := 100
	if stressMode() {
		stores = 1000
	}
	const size = 1 << 20
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	maxSize := int64(stores) << 20
	p := startZEO(t, dir, addr, fsConf(path, fmt.Sprintf("  max-transaction-size %d", maxSize), ""))
	pid := p.cmd.Process.Pid
	c := dial(t, addr, client.Options{})
	hwm0 := hwmKiB(t, pid)
	commitBig := func(n int) (*client.Txn, error) {
		tx, err := c.Begin("stress", "large transaction", nil)
		if err != nil {
			return nil, err
		}
		data := make([]byte, size)
		for i := range n {
			data[0], data[1] = byte(i), byte(i>>8)
			if err := tx.Store(storage.OID(1+i), 0, data); err != nil {
				return nil, err
			}
		}
		return tx, c.Ping()
	}
	// At max-transaction-size: spooled, committed.
	tx, err := commitBig(stores)
	if err != nil {
		t.Fatal(err)
	}
	beforeVote := hwmKiB(t, pid) - hwm0
	if _, _, err := tx.Vote(); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}
	afterFinish := hwmKiB(t, pid) - hwm0
	data, _, err := c.Load(storage.OID(stores))
	if err != nil || len(data) != size || data[0] != byte(stores-1) || data[1] != byte((stores-1)>>8) {
		t.Fatalf("last object of the spooled transaction: %d bytes, %v", len(data), err)
	}
	// One more MiB: refused at the vote.
	tx, err = commitBig(stores + 1)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = tx.Vote()
	if !client.IsClass(err, "StorageTransactionError") || !strings.Contains(err.Error(), "max-transaction-size") {
		t.Fatalf("vote of %d MiB with max-transaction-size %d: %v, want StorageTransactionError", stores+1, maxSize, err)
	}
	tx.Abort()
	afterRefusal := hwmKiB(t, pid) - hwm0
	report(t, "%d x 1 MiB stores in one transaction: peak RSS %d KiB, +%d KiB before the vote, +%d KiB after tpc_finish; %d x 1 MiB refused at the vote (max-transaction-size %d MiB): +%d KiB",
		stores, hwm0, beforeVote, afterFinish, stores+1, maxSize>>20, afterRefusal)
	// transaction-memory (16 MiB), one store frame being read and
	// decoded (5 MiB), the collector's slack and the race detector's.
	limit := 64 << 10
	if raceEnabled {
		limit *= 3
	}
	if beforeVote > limit {
		t.Errorf("%d MiB of stores raised runzeo's peak RSS by %d MiB before the vote, want at most %d MiB (transaction-memory 16 MiB)",
			stores, beforeVote>>10, limit>>10)
	}
	// At the vote the server reads the spooled stores back one by one
	// into FileStorage, which spills past 16 MiB itself.
	if afterFinish > 3*limit || afterRefusal > 3*limit {
		t.Errorf("%d MiB of stores raised runzeo's peak RSS by %d MiB by tpc_finish (%d MiB with the refused one), want at most %d MiB",
			stores, afterFinish>>10, afterRefusal>>10, 3*limit>>10)
	}
	if !bytes.Contains([]byte(p.out.String()), []byte("transaction refused: too large")) {
		t.Errorf("the refusal is not logged")
	}
	p.stop()
}
