package pgstorage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Loads from a hot standby (ro-replica-conf): a load right after a
// commit reads that commit (from the primary while the standby lags),
// later loads are answered by the standby, and no load returns a
// revision older than the last commit. The health report names the
// standby as the read node.
func TestReplicaReads(t *testing.T) {
	c := pgsandbox.NewCluster(t, pgsandbox.ClusterOptions{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, "zodb"); err != nil {
		t.Fatal(err)
	}
	primary, err := c.WaitPrimary(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var standby *pgsandbox.Node
	for _, n := range c.Nodes {
		if n != primary {
			standby = n
		}
	}
	s, err := Open(ctx, Options{DSN: c.DSN("zodb"), KeepHistory: true, CreateSchema: true,
		PollInterval: 50 * time.Millisecond, ReadReplicas: []string{standby.DSN("zodb")}, ReplicaTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	oid, err := s.NewOID()
	if err != nil {
		t.Fatal(err)
	}
	serial := tid.TID(0)
	for i := 0; i < 50; i++ {
		want := fmt.Sprintf("v%d", i)
		serial = commit(t, s, map[storage.OID][2]any{oid: {serial, []byte(want)}})
		data, start, _, ok, err := s.LoadBefore(oid, serial+1)
		if err != nil || !ok || string(data) != want || start != serial {
			t.Fatalf("load right after commit %d = %q %s %v %v, want %q at %s", i, data, start, ok, err, want, serial)
		}
	}
	// Once the standby has replayed the last commit, it answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, start, _, ok, err := s.LoadBefore(oid, serial+1)
		if err != nil || !ok || string(data) != "v49" || start != serial {
			t.Fatalf("load = %q %s %v %v, want v49 at %s", data, start, ok, err, serial)
		}
		if served, _ := s.ReplicaLoads(); served > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby answered no load within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := fmt.Sprintf("127.0.0.1:%d", standby.PGPort)
	// Its last answer was accepted: it had caught up, so no lag.
	if h := s.Health(); h.ReadNode != want || !h.OK || h.ReplicaLag != 0 {
		t.Fatalf("health = %+v, want read node %s and no lag", h, want)
	}
	served, stale := s.ReplicaLoads()
	t.Logf("standby answered %d loads, %d answers thrown away as stale", served, stale)
}
