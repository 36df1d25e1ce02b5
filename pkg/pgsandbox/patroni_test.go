package pgsandbox

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A two-node synchronous cluster fails over when its primary's machine
// is lost, and the lost node rejoins as a standby of the new primary.
func TestPatroniFailover(t *testing.T) {
	c := NewCluster(t, ClusterOptions{Nodes: 2, Synchronous: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, "ha"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("ha"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	old := c.Primary()
	start := time.Now()
	old.Kill()
	p, err := c.WaitPrimary(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s -> %s in %s", old.Name, p.Name, time.Since(start))
	conn, err = pgx.Connect(ctx, c.DSN("ha"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 1 {
		t.Fatalf("after failover: v = %d, %v; want the committed row 1", v, err)
	}
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := c.WaitReplicas(ctx, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s streaming again after %s", old.Name, time.Since(start))
}
