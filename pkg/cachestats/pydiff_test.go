package cachestats_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/cachesimul"
	"github.com/zdkit/zdkit/pkg/cachestats"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

// pythonZEO finds an interpreter that can run ZEO's scripts
// (ZDKIT_PYTHON, ZDKIT_PYZEO_PATH as for pkg/zeo/interop), or skips.
func pythonZEO(t *testing.T) (string, []string) {
	t.Helper()
	env := append(os.Environ(), "TZ=UTC")
	if p := os.Getenv("ZDKIT_PYZEO_PATH"); p != "" {
		env = append(env, "PYTHONPATH="+p)
	}
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("ZDKIT_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, py := range cands {
		cmd := exec.Command(py, "-c", "import ZEO.scripts.cache_stats, ZEO.scripts.cache_simul")
		cmd.Env = env
		if cmd.Run() == nil {
			return py, env
		}
	}
	t.Skip("no Python with ZEO (set ZDKIT_PYTHON and ZDKIT_PYZEO_PATH)")
	return "", nil
}

// oddTrace makes a small trace with the irregularities real and damaged
// traces have: every code (and some unknown ones), odd oid lengths, time
// stamps going backwards or before 1970, non-current stores, historical
// loads with tids, a cut last record.
func oddTrace(rng *rand.Rand) []byte {
	var b bytes.Buffer
	w := cachetrace.NewWriter(&b)
	ts := int64(1700000000 + rng.IntN(200000) - 100000)
	if rng.IntN(10) == 0 {
		ts = -int64(rng.IntN(1000000)) - 1
	}
	codes := []byte{0x10, 0x1c, 0x1e, 0x20, 0x22, 0x24, 0x26, 0x52, 0x54}
	tid := uint64(100)
	for i, n := 0, 1+rng.IntN(400); i < n; i++ {
		ts += []int64{0, 0, 1, 5, 60, 300, 900, -3}[rng.IntN(8)]
		code := codes[rng.IntN(len(codes))]
		if rng.IntN(20) == 0 {
			code = byte(rng.IntN(256))
		}
		if rng.IntN(100) == 0 {
			code = 0
		}
		var oid []byte
		if code != 0 {
			if rng.IntN(33) == 0 {
				oid = make([]byte, []int{1, 3, 9}[rng.IntN(3)])
			} else {
				oid = binary.BigEndian.AppendUint64(nil, uint64(rng.IntN(30)))
			}
		}
		var dlen uint32
		if (code&0x40 != 0 && code&0x20 == 0) || (code == 0x22 && rng.IntN(10) > 0) {
			dlen = 1 + uint32(rng.IntN(3000))
		}
		tid += uint64(rng.IntN(4))
		start := tid
		if rng.IntN(10) == 0 && !(code&0x10 != 0 && code&0x60 == 0) {
			start = uint64(rng.IntN(200))
		}
		var end uint64
		if rng.IntN(10) < 3 {
			end = tid + 1 + uint64(rng.IntN(5))
		}
		if ts == 0 {
			ts = 1
		}
		w.Write(&cachetrace.Record{Time: int32(ts), Code: code, Dlen: dlen, Start: start, End: end, Oid: oid})
	}
	out := b.Bytes()
	if rng.IntN(5) == 0 {
		out = out[:rng.IntN(len(out)+1)]
	}
	return out
}

// Wherever ZEO's cache_stats and cache_simul finish, ours print the same
// (elapsed seconds masked).
func TestSameAsPythonTools(t *testing.T) {
	py, env := pythonZEO(t)
	// Python runs with TZ=UTC; so do our reports here.
	old := time.Local
	time.Local = time.UTC
	defer func() { time.Local = old }()
	dir := t.TempDir()
	compared := 0
	for seed := uint64(1); seed <= 25; seed++ {
		rng := rand.New(rand.NewPCG(seed, 11))
		p := filepath.Join(dir, fmt.Sprintf("t%d.trace", seed))
		if err := os.WriteFile(p, oddTrace(rng), 0o644); err != nil {
			t.Fatal(err)
		}
		size := []string{"0.005", "0.01", "0.05", "1"}[rng.IntN(4)]
		runs := []struct {
			mod  string
			args []string
		}{
			{"ZEO.scripts.cache_stats", []string{"-v", "-h", "-s", "-i", "2", p}},
			{"ZEO.scripts.cache_stats", []string{"-q", p}},
			{"ZEO.scripts.cache_simul", []string{"-s", size, "-i", "5", "-r", "0.5", p}},
		}
		for _, r := range runs {
			cmd := exec.Command(py, append([]string{"-m", r.mod}, r.args...)...)
			cmd.Env = env
			want, err := cmd.Output()
			if err != nil {
				continue // Python crashed: covered by the *_fixed scripts
			}
			var got, stderr bytes.Buffer
			if r.mod == "ZEO.scripts.cache_stats" {
				cachestats.Main(context.Background(), r.args, nil, &got, &stderr)
			} else {
				cachesimul.Main(r.args, nil, &got, &stderr)
			}
			g := seconds.ReplaceAll(got.Bytes(), []byte("in X seconds"))
			w := seconds.ReplaceAll(want, []byte("in X seconds"))
			if !bytes.Equal(g, w) {
				t.Errorf("seed %d %s %v:\n--- python\n%s\n--- ours\n%s", seed, r.mod, r.args, w, g)
			}
			compared++
		}
	}
	t.Logf("%d runs compared", compared)
	if compared < 25 {
		t.Errorf("only %d runs compared", compared)
	}
}
