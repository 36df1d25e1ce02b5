package server

import (
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// A tpc_begin with an explicit tid far in the future (the restore path)
// is refused at the vote with a StorageTransactionError saying why;
// nothing is committed and later commits get ordinary tids. A tid a
// few minutes ahead (clocks that disagree) is still accepted.
func TestRestoreTIDFarInFutureRefused(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	for _, far := range []tid.TID{0xFFFFFFFFFFFFFFFF, tid.FromTime(time.Now().Add(MaxRestoreAhead + time.Hour))} {
		const id = 4242
		if err := c.CallAsync("tpc_begin", id, []byte("u"), []byte("d"), &wire.Dict{}, storage.TIDBytes(far), " "); err != nil {
			t.Fatal(err)
		}
		if err := c.CallAsync("storea", storage.OID(7).Bytes(), storage.TIDBytes(0), []byte("x"), id); err != nil {
			t.Fatal(err)
		}
		_, err := c.Call("vote", id)
		if !client.IsClass(err, "StorageTransactionError") || !strings.Contains(err.Error(), "ahead of the server's clock") || !strings.Contains(err.Error(), far.Repr()) {
			t.Fatalf("vote with tid %s: %v, want StorageTransactionError naming the tid and the clock", far.Repr(), err)
		}
		if _, _, err := c.Load(7); !client.IsClass(err, "POSKeyError") {
			t.Fatalf("refused restore stored oid 7: %v", err)
		}
	}
	got := commit(t, c, nil, map[storage.OID][]byte{1: []byte("a")})
	if limit := tid.FromTime(time.Now().Add(time.Minute)); got > limit {
		t.Errorf("commit after the refusal took tid %s, beyond now", got)
	}
	// Slightly ahead: accepted.
	near := tid.FromTime(time.Now().Add(10 * time.Minute))
	if err := c.CallAsync("tpc_begin", 4343, []byte(""), []byte(""), &wire.Dict{}, storage.TIDBytes(near), " "); err != nil {
		t.Fatal(err)
	}
	if err := c.CallAsync("storea", storage.OID(8).Bytes(), storage.TIDBytes(0), []byte("y"), 4343); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call("vote", 4343); err != nil {
		t.Fatalf("vote with a tid 10 minutes ahead: %v", err)
	}
	v, err := c.Call("tpc_finish", 4343)
	if b, _ := wire.AsBytes(v); err != nil || tid.FromBytes(b) != near {
		t.Fatalf("tpc_finish: %v %v, want tid %s", wire.Repr(v), err, near.Repr())
	}
}
