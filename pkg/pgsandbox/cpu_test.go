package pgsandbox

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A query that burns CPU in a backend shows in the server's CPU time.
func TestCPUSeconds(t *testing.T) {
	s := Shared(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	before := s.CPUSeconds()
	var n int64
	if err := c.QueryRow(ctx, `SELECT count(*) FROM generate_series(1, 5000000)`).Scan(&n); err != nil || n != 5000000 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if after := s.CPUSeconds(); after < before+0.05 {
		t.Fatalf("CPU seconds went from %.2f to %.2f over a 5M-row count", before, after)
	}
}
