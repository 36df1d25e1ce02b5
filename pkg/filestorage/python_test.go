package filestorage

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
)

// Interop with real Python ZODB. Set ZDKIT_ZODB_SRC to the src/ folder
// of a ZODB checkout (persistent, BTrees, zodbpickle, zc.lockfile and
// transaction must be importable by ZDKIT_PYTHON, default python3);
// the test skips otherwise.
func pythonZODB(t *testing.T) (string, []string) {
	src := os.Getenv("ZDKIT_ZODB_SRC")
	py := os.Getenv("ZDKIT_PYTHON")
	if py == "" {
		py = "python3"
	}
	env := append(os.Environ(), "PYTHONPATH="+src)
	cmd := exec.Command(py, "-c", "import ZODB.FileStorage, ZODB.scripts.fstest")
	cmd.Env = env
	if src == "" || cmd.Run() != nil {
		t.Skip("Python ZODB not available (set ZDKIT_ZODB_SRC)")
	}
	return py, env
}

// pmPickle builds a persistent.mapping.PersistentMapping record the way
// ZODB 5/6 pickles it: the class, then {'data': {...}} sharing the memo
// (references use BINGET 0 for their class, as real ZODB records do).
func pmPickle(items map[string]any) []byte {
	b := []byte("\x80\x03cpersistent.mapping\nPersistentMapping\nq\x00.")
	b = append(b, "\x80\x03}q\x01X\x04\x00\x00\x00dataq\x02}q\x03"...)
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		b = append(b, '(')
		for _, k := range keys {
			b = append(b, 'X')
			b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
			switch v := items[k].(type) {
			case int:
				b = append(b, 'K', byte(v))
			case Oid:
				o := v.Bytes()
				b = append(b, 'C', 8)
				b = append(b, o[:]...)
				b = append(b, 'h', 0, 0x86, 'Q')
			}
		}
		b = append(b, 'u')
	}
	return append(b, "s."...)
}

const pyCheck = `
import hashlib, json, logging, sys
import ZODB.FileStorage, ZODB.scripts.fstest
from ZODB.serialize import referencesf
from ZODB.utils import u64, p64
path = sys.argv[1]
warnings = []
class H(logging.Handler):
    def emit(self, r): warnings.append(r.getMessage())
logging.getLogger().addHandler(H())
logging.getLogger().setLevel(logging.WARNING)
ZODB.scripts.fstest.check(path)
fs = ZODB.FileStorage.FileStorage(path, read_only=True)
out = {"warnings": warnings, "len": len(fs), "last": fs.lastTransaction().hex(), "objects": {}}
for oid in list(fs._index.keys()):
    try:
        data, serial = fs.load(oid)
        out["objects"][oid.hex()] = {"sha": hashlib.sha256(data).hexdigest(), "tid": serial.hex(),
                                     "refs": [r.hex() for r in referencesf(data)]}
    except ZODB.POSException.POSKeyError:
        out["objects"][oid.hex()] = {"deleted": True}
out["undo"] = [d["id"].decode() for d in fs.undoLog(0, -100)]
out["history_ext"] = [h.get("app") for h in fs.history(p64(1), 10)]
out["txns"] = [t.tid.hex() for t in fs.iterator()]
fs.close()
# Now write through the real DB API.
import transaction
from ZODB.DB import DB
from persistent.mapping import PersistentMapping
db = DB(ZODB.FileStorage.FileStorage(path))
conn = db.open()
root = conn.root()
out["root_keys"] = sorted(root.keys())
out["a_x"] = root["a"]["x"]
root["py"] = PersistentMapping({"y": 3})
transaction.get().setUser("bob")
transaction.commit()
out["py_oid"] = root["py"]._p_oid.hex()
db.close()
out["warnings_rw"] = warnings[len(out["warnings"]):]
json.dump(out, sys.stdout)
`

func TestPythonInterop(t *testing.T) {
	py, env := pythonZODB(t)
	p := filepath.Join(t.TempDir(), "Data.fs")
	s, err := Open(p, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	commit := func(meta TxnMeta, f func(x *Txn)) tid.TID {
		x, err := s.Begin(meta)
		if err != nil {
			t.Fatal(err)
		}
		f(x)
		if err := x.Vote(); err != nil {
			t.Fatal(err)
		}
		tt, err := x.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	ext := []byte("\x80\x03}q\x00X\x03\x00\x00\x00appq\x01X\x04\x00\x00\x00demoq\x02s.")
	t1 := commit(TxnMeta{Description: []byte("initial database creation")}, func(x *Txn) { x.Store(0, 0, pmPickle(nil)) })
	s.NewOids(3)
	t2 := commit(TxnMeta{User: []byte("/ alice"), Description: []byte("add a"), Extension: ext}, func(x *Txn) {
		x.Store(0, t1, pmPickle(map[string]any{"a": Oid(1), "g": Oid(2)}))
		x.Store(1, 0, pmPickle(map[string]any{"x": 1}))
		x.Store(2, 0, pmPickle(map[string]any{"garbage": 1}))
	})
	t3 := commit(TxnMeta{Description: []byte("x=2, drop g")}, func(x *Txn) {
		x.Store(1, t2, pmPickle(map[string]any{"x": 2}))
		x.Store(0, t2, pmPickle(map[string]any{"a": Oid(1)}))
	})
	commit(TxnMeta{Description: []byte("undo x=2")}, func(x *Txn) {
		if _, err := x.Undo(UndoID(t3)); err != nil {
			t.Fatal(err)
		}
	})
	// Undoing t3 restored the root with g; pack at t3 keeps what the
	// undo records point at.
	if err := s.Pack(t3, true); err != nil {
		t.Fatal(err)
	}
	commit(TxnMeta{Description: []byte("x=5")}, func(x *Txn) {
		serial, _ := s.GetTid(1)
		x.Store(1, serial, pmPickle(map[string]any{"x": 5}))
	})
	want := map[string]map[string]string{}
	for o := Oid(0); o <= 2; o++ {
		d, serial, err := s.Load(o)
		if err != nil {
			continue
		}
		want[o.Hex()] = map[string]string{"sha": sha(d), "tid": serial.Hex()}
	}
	last := s.LastTransaction()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(py, "-c", pyCheck, p)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res struct {
		Warnings   []string `json:"warnings"`
		WarningsRW []string `json:"warnings_rw"`
		Len        int      `json:"len"`
		Last       string   `json:"last"`
		Objects    map[string]struct {
			Sha, Tid string
			Refs     []string
			Deleted  bool
		} `json:"objects"`
		Undo       []string `json:"undo"`
		HistoryExt []any    `json:"history_ext"`
		Txns       []string `json:"txns"`
		RootKeys   []string `json:"root_keys"`
		AX         int      `json:"a_x"`
		PyOid      string   `json:"py_oid"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(res.Warnings) != 0 || len(res.WarningsRW) != 0 {
		t.Errorf("Python warned (index ignored?): %q %q", res.Warnings, res.WarningsRW)
	}
	if res.Last != last.Hex() {
		t.Errorf("Python last tid %s, want %s", res.Last, last.Hex())
	}
	for o, w := range want {
		g := res.Objects[o]
		if g.Sha != w["sha"] || g.Tid != w["tid"] {
			t.Errorf("oid %s: Python loads %+v, Go %v", o, g, w)
		}
	}
	if got := res.Objects["0000000000000000"].Refs; len(got) != 2 {
		t.Errorf("Python referencesf(root) = %v", got)
	}
	if len(res.Undo) == 0 || res.AX != 5 || strings.Join(res.RootKeys, ",") != "a,g" {
		t.Errorf("Python view: undo %v a.x %d keys %v", res.Undo, res.AX, res.RootKeys)
	}

	// Back in Go: the Python-written transaction and index.
	var logs []string
	s, err = Open(p, Options{NoSync: true, Logf: func(f string, a ...any) { logs = append(logs, f) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(logs) != 0 {
		t.Errorf("Go logged on opening Python's file: %q", logs)
	}
	if s.LastTransaction() <= last {
		t.Errorf("Python's transaction not seen")
	}
	var pyOid Oid
	for _, c := range res.PyOid {
		pyOid = pyOid<<4 | Oid(strings.IndexRune("0123456789abcdef", c))
	}
	if d, _, err := s.Load(pyOid); err != nil || !strings.Contains(string(d), "persistent.mapping") {
		t.Errorf("load Python's object %s: %v", res.PyOid, err)
	}
	if h, err := s.History(pyOid, 1); err != nil || string(h[0].UserName) != "/ bob" {
		t.Errorf("history: %+v %v", h, err)
	}
	if err := Check(p, CheckOptions{Pointers: true}); err != nil {
		t.Error(err)
	}
	if _, _, err := ReadIndex(p + ".index"); err != nil {
		t.Errorf("Python's index: %v", err)
	}
}

// TestPythonToolsOutput compares fsdump and fstest -vv output with the
// Python scripts' on every fixture, byte for byte.
func TestPythonToolsOutput(t *testing.T) {
	py, env := pythonZODB(t)
	for _, n := range fixtureNames {
		path := filepath.Join("testdata", n+".fs")
		for _, tool := range []string{"fsdump", "fstest"} {
			var script string
			if tool == "fsdump" {
				script = "import sys; from ZODB.FileStorage.fsdump import fsdump; fsdump(sys.argv[1])"
			} else {
				script = "import sys; import ZODB.scripts.fstest as f; f.VERBOSE = 2; f.check(sys.argv[1]); f.chatter('no errors detected')"
			}
			cmd := exec.Command(py, "-c", script, path)
			cmd.Env = env
			want, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s %s: %v", tool, n, err)
			}
			var got strings.Builder
			if tool == "fsdump" {
				err = Dump(path, &got)
			} else {
				err = Check(path, CheckOptions{Verbose: 2, Out: &got})
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(want) {
				gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
				for i := range wl {
					if i >= len(gl) || gl[i] != wl[i] {
						g := ""
						if i < len(gl) {
							g = gl[i]
						}
						t.Errorf("%s %s: line %d:\n got %q\nwant %q", tool, n, i+1, g, wl[i])
						break
					}
				}
			}
		}
	}
}

// TestPythonRecover damages undo.fs in several ways and compares our
// fsrecover output file with Python's, byte for byte.
func TestPythonRecover(t *testing.T) {
	py, env := pythonZODB(t)
	m := loadManifest(t, "undo")
	orig, _ := os.ReadFile(filepath.Join("testdata", "undo.fs"))
	damages := map[string]func(b []byte){
		"tloc":     func(b []byte) { b[m.Transactions[6].Records[0].Pos+31] ^= 0x40 },
		"tlen":     func(b []byte) { b[m.Transactions[3].Pos+15] ^= 0x01 },
		"status":   func(b []byte) { b[m.Transactions[2].Pos+16] = 'x' },
		"tidorder": func(b []byte) { b[m.Transactions[5].Pos] = 0 },
		"ctail":    func(b []byte) { b[m.Transactions[9].Pos+16] = 'c' },
	}
	for name, damage := range damages {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.fs")
		b := append([]byte{}, orig...)
		damage(b)
		os.WriteFile(in, b, 0o644)
		pyOut, goOut := filepath.Join(dir, "py.fs"), filepath.Join(dir, "go.fs")
		cmd := exec.Command(py, "-c", "import sys; from ZODB.fsrecover import recover; recover(sys.argv[1], sys.argv[2])", in, pyOut)
		cmd.Env = env
		pylog, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: python: %v\n%s", name, err, pylog)
		}
		if err := Recover(in, goOut, RecoverOptions{NoSync: true}, io.Discard); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want, _ := os.ReadFile(pyOut)
		got, _ := os.ReadFile(goOut)
		if err := Check(goOut, CheckOptions{Pointers: true}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(string(pylog), "Invalid transaction id") {
			// Python's restore() raises when a backpointer's
			// transaction was lost, dropping a good transaction; we
			// write the data instead, so we keep more.
			if len(got) <= len(want) {
				t.Errorf("%s: kept %d bytes, Python %d", name, len(got), len(want))
			}
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s: our output (%d bytes) differs from Python's (%d bytes)", name, len(got), len(want))
		}
	}
}
