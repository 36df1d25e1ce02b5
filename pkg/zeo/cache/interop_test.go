package cache

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pythonZEO finds an interpreter that can import ZEO.cache (ZDKIT_PYTHON,
// ZDKIT_PYZEO_PATH as for pkg/zeo/interop), or skips.
func pythonZEO(t *testing.T) (string, []string) {
	t.Helper()
	env := os.Environ()
	if p := os.Getenv("ZDKIT_PYZEO_PATH"); p != "" {
		env = append(env, "PYTHONPATH="+p)
	}
	cands := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("ZDKIT_PYTHON"); p != "" {
		cands = []string{p}
	}
	for _, py := range cands {
		cmd := exec.Command(py, "-c", "import ZEO.cache, ZODB.utils")
		cmd.Env = env
		if cmd.Run() == nil {
			return py, env
		}
	}
	t.Skip("no Python with ZEO (set ZDKIT_PYTHON and ZDKIT_PYZEO_PATH)")
	return "", nil
}

type op struct {
	Op     string `json:"op"`
	T      int64  `json:"t"`
	Size   int64  `json:"size,omitempty"`
	Oid    uint64 `json:"oid"`
	Start  uint64 `json:"start"`
	End    uint64 `json:"end"`
	Tid    uint64 `json:"tid"`
	Before uint64 `json:"before"`
	Data   string `json:"data"`
}

// randomOps makes a client-like sequence that stays clear of the Python
// bugs we fix (same-tid or older invalidations, colliding (oid, start)
// keys, growing): there the files would rightly differ.
func randomOps(rng *rand.Rand) []op {
	t := int64(1700200000)
	size := int64(600 + rng.IntN(3000))
	ops := []op{{Op: "open", T: t, Size: size}}
	tid := uint64(0x100)
	lastCur := map[uint64]uint64{}
	for i := 0; i < 300; i++ {
		t += int64(rng.IntN(3))
		oid := uint64(rng.IntN(10))
		switch rng.IntN(10) {
		case 0, 1, 2:
			tid++
			data := make([]byte, rng.IntN(250))
			for j := range data {
				data[j] = byte('a' + (int(oid)+j)%26)
			}
			ops = append(ops, op{Op: "store", T: t, Oid: oid, Start: tid, Data: hex.EncodeToString(data)})
			lastCur[oid] = tid
		case 3:
			if s, ok := lastCur[oid]; ok {
				// The same current revision again: ignored (or, if it was
				// evicted or invalidated meanwhile, stored again/refused).
				ops = append(ops, op{Op: "store", T: t, Oid: oid, Start: s, Data: "7878"})
			}
		case 4:
			tid += 2
			ops = append(ops, op{Op: "store", T: t, Oid: oid, Start: tid - 1, End: tid, Data: hex.EncodeToString([]byte(fmt.Sprint("nc", oid, tid)))})
		case 5, 6:
			ops = append(ops, op{Op: "load", T: t, Oid: oid})
		case 7:
			ops = append(ops, op{Op: "loadBefore", T: t, Oid: oid, Before: 0x100 + uint64(rng.IntN(int(tid-0x100)+3))})
		case 8:
			tid++
			it := tid
			if rng.IntN(3) == 0 {
				it = 0
			}
			ops = append(ops, op{Op: "invalidate", T: t, Oid: oid, Tid: it})
			// Re-storing that revision as current would give it the
			// (oid, start) of the non-current record just made, a Python
			// index bug we fix (TestDuplicateNoncurrent).
			delete(lastCur, oid)
		case 9:
			switch rng.IntN(4) {
			case 0:
				ops = append(ops, op{Op: "setLastTid", T: t, Tid: tid})
			case 1:
				ops = append(ops, op{Op: "len", T: t})
			case 2:
				if rng.IntN(3) == 0 {
					size -= int64(rng.IntN(int(size / 3)))
				}
				t += 30
				ops = append(ops, op{Op: "close", T: t}, op{Op: "open", T: t + 1, Size: size})
			}
		}
	}
	return append(ops, op{Op: "close", T: t + 1})
}

// replayGo runs ops on our cache and returns the results in the form
// replay.py prints them.
func replayGo(t *testing.T, ops []op, path string) []string {
	clk := &clock{}
	var c *Cache
	var out []string
	res := func(r any, err error) {
		if err != nil {
			name := "ValueError"
			if !errors.Is(err, ErrAlreadyCurrent) && !errors.Is(err, ErrTidBackwards) {
				name = err.Error()
			}
			out = append(out, fmt.Sprintf(`["error", %q]`, name))
			return
		}
		b, _ := json.Marshal([]any{"ok", r})
		out = append(out, strings.ReplaceAll(string(b), ",", ", "))
	}
	for _, o := range ops {
		clk.t = o.T
		switch o.Op {
		case "open":
			var err error
			c, err = Open(path, Options{Size: o.Size, Trace: TraceOn, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			res(c.Len(), nil)
		case "close":
			res(nil, c.Close())
		case "store":
			data, _ := hex.DecodeString(o.Data)
			res(nil, c.Store(o.Oid, o.Start, o.End, data))
		case "load":
			d, tid, ok, err := c.Load(o.Oid)
			if !ok || err != nil {
				res(nil, err)
			} else {
				res([]any{hex.EncodeToString(d), tid}, nil)
			}
		case "loadBefore":
			d, s, e, ok, err := c.LoadBefore(o.Oid, o.Before)
			if !ok || err != nil {
				res(nil, err)
			} else {
				res([]any{hex.EncodeToString(d), s, e}, nil)
			}
		case "invalidate":
			res(nil, c.Invalidate(o.Oid, o.Tid))
		case "setLastTid":
			res(nil, c.SetLastTid(o.Tid))
		case "len":
			res(c.Len(), nil)
		}
	}
	return out
}

// The same operations through ZEO's ClientCache and ours give the same
// results, the same .zec bytes and the same trace bytes.
func TestInteropWithPythonZEO(t *testing.T) {
	py, env := pythonZEO(t)
	script, err := filepath.Abs("testdata/interop/replay.py")
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(1); seed <= interopSeeds; seed++ {
		ops := randomOps(rand.New(rand.NewPCG(seed, 7)))
		dir := t.TempDir()
		opsFile := filepath.Join(dir, "ops.json")
		b, _ := json.Marshal(ops)
		os.WriteFile(opsFile, b, 0o644)
		pyDir, goDir := filepath.Join(dir, "py"), filepath.Join(dir, "go")
		os.Mkdir(pyDir, 0o755)
		os.Mkdir(goDir, 0o755)
		cmd := exec.Command(py, script, opsFile, "c.zec")
		cmd.Dir, cmd.Env = pyDir, env
		pyOut, err := cmd.Output()
		if err != nil {
			t.Fatalf("seed %d: replay.py: %v", seed, err)
		}
		goOut := replayGo(t, ops, filepath.Join(goDir, "c.zec"))
		pyLines := strings.Split(strings.TrimSpace(string(pyOut)), "\n")
		if len(pyLines) != len(goOut) {
			t.Fatalf("seed %d: %d python results, %d ours", seed, len(pyLines), len(goOut))
		}
		for i := range pyLines {
			if pyLines[i] != goOut[i] {
				t.Fatalf("seed %d op %d %+v: python %s, ours %s", seed, i, ops[i], pyLines[i], goOut[i])
			}
		}
		for _, f := range []string{"c.zec", "c.zec.trace"} {
			pb := readFile(t, filepath.Join(pyDir, f))
			gb := readFile(t, filepath.Join(goDir, f))
			if !bytes.Equal(pb, gb) {
				t.Errorf("seed %d: %s differs (%d bytes python, %d ours)", seed, f, len(pb), len(gb))
			}
		}
	}
}

// interopSeeds is how many random sequences TestInteropWithPythonZEO
// replays (500 were checked once by hand).
var interopSeeds = uint64(25)
