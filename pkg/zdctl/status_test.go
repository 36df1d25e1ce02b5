package zdctl

import (
	"errors"
	"syscall"
	"testing"

	"github.com/zdkit/zdkit/pkg/control"
)

// zdctl's one-shot client (call.go) stands in for pkg/control's Call;
// these tests hold the two to the same limits and errors.

func TestCallLimitsMatchControl(t *testing.T) {
	if callTimeout != control.DefaultCallTimeout || maxReply != control.MaxReply {
		t.Errorf("callTimeout %v maxReply %d, control has %v %d", callTimeout, maxReply, control.DefaultCallTimeout, control.MaxReply)
	}
}

func TestCallNoManager(t *testing.T) {
	dir := t.TempDir()
	if _, err := call(dir+"/none.sock", "status"); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("call to a missing socket: %v", err)
	}
}
