// Command zdrun is the daemon manager: it runs one program, restarts it by
// zdaemon's policy and answers zdctl on a control socket. The work is done
// by supervisor.Main; see pkg/supervisor and docs/zdrun.md.
package main

import (
	"os"

	"github.com/zdkit/zdkit/pkg/supervisor"
)

func main() {
	os.Exit(supervisor.Main(os.Args))
}
