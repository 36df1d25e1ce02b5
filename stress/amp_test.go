package stress

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
	"github.com/zdkit/zdkit/pkg/zeo/wire/wiretest"
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

// memoryBoundKiB is the growth of runzeo's peak RSS that docs/reliability.md
// promises for frames of frameLen bytes: 4 times the frame plus 64 MiB.
// The race detector multiplies a program's memory by 5-10 (Go's race
// detector docs); a race-enabled runzeo gets three times the margin.
func memoryBoundKiB(frameLen int) int {
	limit := 4*frameLen/1024 + 64<<10
	if raceEnabled {
		limit *= 3
	}
	return limit
}

// TestDecodeAmplification sends frames of one small value kind repeated
// (pickle `N`, `]`, `}`, `)`, `(`, empty bytes and strings, memo gets,
// APPEND, SETITEM...; msgpack empty arrays, maps, strings, nils...), each
// right after the handshake without registering, one after the other
// and then several connections at once; runzeo must refuse each with
// the decode budget and its peak RSS grow by at most 4 times the frame
// plus 64 MiB (docs/reliability.md). 2 MiB frames in the normal run,
// 64 MiB ones (the default max-frame) with ZDKIT_STRESS=1.
func TestDecodeAmplification(t *testing.T) {
	t.Parallel()
	n, conns := 2<<20, 3
	if stressMode() {
		n, conns = 64<<20-64, 8
	}
	frames := wiretest.HostileFrames(n)
	for _, enc := range []string{"pickle", "msgpack"} {
		t.Run(enc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "Data.fs")
			addr := freeAddr(t)
			p := startZEO(t, dir, addr, fsConf(path, "  msgpack "+map[string]string{"pickle": "false", "msgpack": "true"}[enc], ""))
			bystander := dial(t, addr, client.Options{})
			pid := p.cmd.Process.Pid
			hwm0 := hwmKiB(t, pid)
			var names []string
			for name := range frames {
				if strings.HasPrefix(name, enc+" ") {
					names = append(names, name)
				}
			}
			sort.Strings(names)
			send := func(r *rawConn, b []byte) error {
				if err := wire.WriteFrame(r.nc, b); err != nil {
					return err
				}
				if !r.closedWithin(60 * time.Second) {
					return fmt.Errorf("connection not closed after the frame")
				}
				return nil
			}
			worst, worstName := 0, ""
			for _, name := range names {
				if err := send(rawDial(t, addr, true), frames[name]); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if grew := hwmKiB(t, pid) - hwm0; grew > worst {
					worst, worstName = grew, name
				}
			}
			// The log lines may trail the connections' ends.
			refused := 0
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if refused = strings.Count(p.out.String(), "builds too many values for its size"); refused >= len(names) {
					break
				}
			}
			if refused != len(names) {
				t.Errorf("%d of %d hostile frames refused with the decode budget:\n%.5000s", refused, len(names), p.out.String())
			}
			// N connections at once, each with the densest frame kind.
			first := frames[names[0]]
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for range conns {
				r := rawDial(t, addr, true)
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- send(r, first)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := bystander.Ping(); err != nil {
				t.Fatal(err)
			}
			hwm := hwmKiB(t, pid)
			time.Sleep(200 * time.Millisecond)
			rss := rssKiB(t, pid)
			report(t, "%d frame kinds of %d MiB one at a time: peak RSS %d -> +%d KiB (%.2fx the frame; worst %s); then %d connections at once: +%d KiB (%.2fx); RSS afterwards %d KiB",
				len(names), n>>20, hwm0, worst, float64(worst)*1024/float64(n), worstName, conns, hwm-hwm0, float64(hwm-hwm0)*1024/float64(n), rss)
			bystander.Close()
			p.stop()
			if grew := hwm - hwm0; grew > memoryBoundKiB(n) {
				t.Errorf("hostile %d MiB frames raised runzeo's peak RSS by %d MiB (%.1fx the frame), over the promised 4x + 64 MiB",
					n>>20, grew>>10, float64(grew)*1024/float64(n))
			}
		})
	}
}
