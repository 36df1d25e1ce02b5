package zdctl

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/zdkit/zdkit/pkg/control"
)

// The client and parser here stand in for pkg/control's in zdctl (see
// status.go and call.go); these tests hold them to the same results.

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

func sameStatus(t *testing.T, reply string) {
	got, ok := parseStatus(reply)
	want, wok := control.ParseStatus(reply)
	if ok != wok {
		t.Fatalf("%q: ok %v, control says %v", reply, ok, wok)
	}
	if !ok {
		return
	}
	if got.application != want.Application || got.shouldBeUp != want.ShouldBeUp || got.testing != want.Testing ||
		got.argsOK != want.ArgsOK || !slices.Equal(got.args, want.Args) {
		t.Fatalf("%q: got %+v, control says %+v", reply, got, want)
	}
}

func TestParseStatusSame(t *testing.T) {
	for _, r := range []string{
		"status=running\nnow=1.5\nshould_be_up=1\ndelay=0\nbackoff=0\nlasttime=0\napplication=12\ntesting=0\nmanager=11\nbackofflimit=10\nfilename='/bin/sleep'\nargs=['sleep', '100']\n",
		"mood=1\napplication=0\n", "application=\napplication=7\n", "application=99999999999999999999\n",
		"application=3\nshould_be_up=x\nshould_be_up=0\ntesting=1\nargs=['a'\nargs=['b']\n", "", "application=3\r\n",
	} {
		sameStatus(t, r)
	}
}

func FuzzParseStatusSame(f *testing.F) {
	f.Add("status=running\napplication=12\ntesting=1\nshould_be_up=0\nargs=['sleep', '\\xff\\udcff']\n")
	f.Add("application=1\nargs=[\"a\\\"b\", 'c',]\n")
	f.Add("application=0\nargs=['\\U0001F600\\n\\t\\0']\n")
	f.Fuzz(func(t *testing.T, reply string) { sameStatus(t, reply) })
}
