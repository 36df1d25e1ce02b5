package zdctl_test

import (
	"os"

	"github.com/zdkit/zdkit/pkg/supervisor"
)

// commands are the programs the scripts run: zdctl, and the real zdrun
// it starts (found next to zdctl in testscript's bin directory).
func commands() map[string]func() {
	return map[string]func(){
		"zdctl": zdctlMain,
		"zdrun": func() { os.Exit(supervisor.Main(os.Args)) },
	}
}
