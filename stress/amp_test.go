package stress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// hwmKiB reads a process's peak resident size.
func hwmKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestDecodeAmplification: a frame of N one-byte empty-list values
// (pickle EMPTY_LIST collected by one LIST; msgpack fixarray 0x90 in one
// array32) makes N Go values; the decoder must bound what one frame can
// cost in memory, not only its byte length and nesting depth.
func TestDecodeAmplification(t *testing.T) {
	t.Parallel()
	const n = 2 << 20
	for _, enc := range []string{"pickle", "msgpack"} {
		t.Run(enc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Data.fs")
			addr := freeAddr(t)
			p := startZEO(t, dir, addr, fsConf(path, "  msgpack "+map[string]string{"pickle": "false", "msgpack": "true"}[enc], ""))
			bystander := dial(t, addr, client.Options{})
			hwm0 := hwmKiB(t, p.cmd.Process.Pid)
			var b []byte
			if enc == "pickle" {
				b = []byte("\x80\x03(K\x01\x89")
				b = append(b, pickleStr("register")...)
				b = append(b, '(')
				b = append(b, bytes.Repeat([]byte("]"), n)...)
				b = append(b, "lt."...)
			} else {
				b = []byte{0x94, 0x01, 0xc2, 0xa8}
				b = append(b, "register"...)
				b = append(b, 0xdd)
				b = binary.BigEndian.AppendUint32(b, n)
				b = append(b, bytes.Repeat([]byte{0x90}, n)...)
			}
			before := len(p.out.String())
			r := rawDial(t, addr, true)
			if err := wire.WriteFrame(r.nc, b); err != nil {
				t.Fatal(err)
			}
			// The message decodes (register with a strange argument):
			// wait for the server's answer or the connection's end.
			r.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, rerr := wire.ReadFrame(r.nc, 1<<20)
			if !p.alive() {
				t.Fatalf("runzeo died:\n%.3000s", p.out.String())
			}
			if err := bystander.Ping(); err != nil {
				t.Fatal(err)
			}
			hwm := hwmKiB(t, p.cmd.Process.Pid)
			t.Logf("%d-byte frame: answer %v; peak RSS %d -> %d KiB", len(b), rerr, hwm0, hwm)
			for _, line := range strings.Split(p.out.String()[before:], "\n") {
				if strings.Contains(line, "ERROR") {
					t.Logf("server logged: %.300s", line)
				}
			}
			if !strings.Contains(p.out.String()[before:], "builds too many values for its size") {
				t.Errorf("the server did not log the value budget refusal:\n%.3000s", p.out.String()[before:])
			}
			bystander.Close()
			p.stop()
			// The decoders refuse a frame whose values would cost more
			// than 8 estimated bytes per frame byte (pkg/zeo/wire
			// budget.go), which the heap's growth before a collection
			// (GOGC=100) about doubles. The race detector multiplies a
			// program's memory by 5-10 (Go's race detector docs); the
			// race-enabled runzeo gets twice the margin (unbounded, this
			// frame cost it 200 MiB).
			limit := 4*len(b)/1024 + 64<<10
			if raceEnabled {
				limit *= 2
			}
			if grew := hwm - hwm0; grew > limit {
				ratio := float64(grew) * 1024 / float64(len(b))
				t.Errorf("regression (pkg/zeo/wire Decode%s value budget): a %d MiB frame of one-byte empty lists raised runzeo's peak RSS "+
					"by %d MiB (%.0fx the frame): with the default 64 MiB frame cap one message could cost ~%.1f GiB",
					map[string]string{"pickle": "Pickle", "msgpack": "Msgpack"}[enc], len(b)>>20, grew>>10, ratio, ratio*64/1024)
			}
		})
	}
}
