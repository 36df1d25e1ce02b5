package interop

import (
	"os"
	"testing"

	"github.com/zdkit/zdkit/pkg/pgsandbox"
)

// The PostgreSQL tests share one server, stopped after the tests.
func TestMain(m *testing.M) { os.Exit(pgsandbox.Main(m)) }
