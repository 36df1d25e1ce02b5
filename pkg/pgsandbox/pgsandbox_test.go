package pgsandbox

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// Two databases on the shared server are distinct and usable.
func TestNewDatabase(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two databases with one DSN %s", a)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var v string
	if err := c.QueryRow(ctx, "SELECT current_setting('listen_addresses')").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "127.0.0.1" {
		t.Fatalf("listen_addresses = %q, want 127.0.0.1", v)
	}
}
