package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Made by ZEO 6.0.0 / ZODB 6.3 (ZEO.asyncio.marshal.encoder(b'Z' or b'M',
// server=True) applied to reduce_exception(MultipleUndoErrors([(o1,
// UndoError('Some data were modified by a later transaction', o1)), (o2,
// UndoError('no previous record', o2))]))).
const (
	pyMultipleUndoPickle  = "800358240000005a4f44422e504f53457863657074696f6e2e4d756c7469706c65556e646f4572726f72737d2858070000005f726561736f6e4308000000000000000158040000005f6f6964635a4f44422e504f53457863657074696f6e0a5f7265636f6e0a635a4f44422e504f53457863657074696f6e0a556e646f4572726f720a7d2858070000005f726561736f6e582e000000536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6e58040000005f6f696443080000000000000001580400000061726773582e000000536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6e430800000000000000018675865258050000005f657272735d2843080000000000000001635a4f44422e504f53457863657074696f6e0a5f7265636f6e0a635a4f44422e504f53457863657074696f6e0a556e646f4572726f720a7d2858070000005f726561736f6e582e000000536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6e58040000005f6f696443080000000000000001580400000061726773582e000000536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6e43080000000000000001867586528643080000000000000002635a4f44422e504f53457863657074696f6e0a5f7265636f6e0a635a4f44422e504f53457863657074696f6e0a556e646f4572726f720a7d2858070000005f726561736f6e58120000006e6f2070726576696f7573207265636f726458040000005f6f69644308000000000000000258040000006172677358120000006e6f2070726576696f7573207265636f72644308000000000000000286758652866575862e"
	pyMultipleUndoMsgpack = "92d9245a4f44422e504f53457863657074696f6e2e4d756c7469706c65556e646f4572726f727383a75f726561736f6ec4080000000000000001a45f6f696492bb5a4f44422e504f53457863657074696f6e2e556e646f4572726f7282a75f726561736f6ed92e536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6ea45f6f6964c4080000000000000001a55f657272739292c408000000000000000192bb5a4f44422e504f53457863657074696f6e2e556e646f4572726f7282a75f726561736f6ed92e536f6d6520646174612077657265206d6f6469666965642062792061206c61746572207472616e73616374696f6ea45f6f6964c408000000000000000192c408000000000000000292bb5a4f44422e504f53457863657074696f6e2e556e646f4572726f7282a75f726561736f6eb26e6f2070726576696f7573207265636f7264a45f6f6964c4080000000000000002"
)

func twoUndoFailures() error {
	o1, o2 := storage.OID(1), storage.OID(2)
	return &storage.MultipleUndoError{Errs: []storage.UndoError{
		{Msg: "Some data were modified by a later transaction", OID: &o1},
		{Msg: "no previous record", OID: &o2},
	}}
}

// A failed undo goes out byte for byte as Python's ZEO server sends it, in
// both encodings, so ZEO 6 clients rebuild MultipleUndoErrors.
func TestMultipleUndoErrorsBytes(t *testing.T) {
	re := toRemote(twoUndoFailures())
	if re.Class != ClassMultipleUndoErrors {
		t.Fatalf("class %q", re.Class)
	}
	for _, tc := range []struct {
		enc  wire.Encoding
		info any
		want string
	}{
		{wire.Pickle, re.Info, pyMultipleUndoPickle},
		{wire.Msgpack, re.MsgpackInfo, pyMultipleUndoMsgpack},
	} {
		got, err := tc.enc.Marshal(wire.Tuple{re.Class, tc.info})
		if err != nil {
			t.Fatalf("%v: %v", tc.enc, err)
		}
		want, _ := hex.DecodeString(tc.want)
		if !bytes.Equal(got, want) {
			t.Errorf("%v:\n got %x\nwant %x", tc.enc, got, want)
		}
	}
}

// Our own codec decodes the pickled reply into the structure
// create_MultipleUndoErrors reads: '_errs' = [(oid, UndoError)].
func TestMultipleUndoErrorsDecode(t *testing.T) {
	want, _ := hex.DecodeString(pyMultipleUndoPickle)
	v, err := wire.Pickle.Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	top, ok := v.(wire.Tuple)
	if !ok || len(top) != 2 || top[0] != ClassMultipleUndoErrors {
		t.Fatalf("reply %s", wire.Repr(v))
	}
	d, ok := top[1].(*wire.Dict)
	if !ok {
		t.Fatalf("info %T", top[1])
	}
	var keys []string
	for _, it := range d.Items {
		keys = append(keys, it.Key.(string))
	}
	if strings.Join(keys, ",") != "_reason,_oid,_errs" {
		t.Fatalf("keys %v", keys)
	}
	errs, ok := d.Items[2].Value.(wire.List)
	if !ok || len(errs) != 2 {
		t.Fatalf("_errs %s", wire.Repr(d.Items[2].Value))
	}
	for i, want := range []string{"Some data were modified by a later transaction", "no previous record"} {
		pair := errs[i].(wire.Tuple)
		oid := storage.OID(i + 1).Bytes()
		if !bytes.Equal(pair[0].([]byte), oid) {
			t.Errorf("pair %d oid %x", i, pair[0])
		}
		obj, ok := pair[1].(*wire.Object)
		if !ok || obj.Class != (wire.Global{Module: "ZODB.POSException", Name: "_recon"}) || len(obj.Args) != 2 {
			t.Fatalf("pair %d error %s", i, wire.Repr(pair[1]))
		}
		if obj.Args[0] != (wire.Global{Module: "ZODB.POSException", Name: "UndoError"}) {
			t.Errorf("pair %d class %v", i, obj.Args[0])
		}
		st := obj.Args[1].(*wire.Dict)
		if r, _ := st.Get("_reason"); r != want {
			t.Errorf("pair %d reason %v", i, r)
		}
		if o, _ := st.Get("_oid"); !bytes.Equal(o.([]byte), oid) {
			t.Errorf("pair %d _oid %v", i, o)
		}
	}
}

func TestPyFloatRepr(t *testing.T) {
	for f, want := range map[float64]string{
		2: "2.0", 0.2: "0.2", 1795974685.8096144: "1795974685.8096144", 1e16: "1e+16",
		1e15: "1000000000000000.0", 0.0001: "0.0001", 0.00001: "1e-05", -3.5: "-3.5", 0: "0.0",
	} {
		if got := PyFloatRepr(f); got != want {
			t.Errorf("PyFloatRepr(%v) = %q, want %q", f, got, want)
		}
	}
}

// runzeo -t 2 makes Python log "Transaction timeout after 2.0 seconds"
// (a float option); the config key, an integer, "after 2 seconds".
func TestTimeoutText(t *testing.T) {
	s := &Server{opts: Options{TransactionTimeout: 2 * time.Second}}
	if got := s.timeoutText(2 * time.Second); got != "2" {
		t.Errorf("default %q", got)
	}
	s.opts.TransactionTimeoutText = PyFloatRepr(2)
	if got := s.timeoutText(2 * time.Second); got != "2.0" {
		t.Errorf("from -t %q", got)
	}
}

// Storages are listed and closed in configuration order, as Python's
// StorageServer does, and an unknown storage name is logged at INFO
// before the ValueError goes back (interop item 21).
func TestConfigOrderAndUnknownStorageLog(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	opts := Options{StorageOrder: []string{"1", "other", "mem"}, Log: func(l Level, name, msg string) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf("%d %s %s", l, name, msg))
		mu.Unlock()
	}}
	stores := map[string]storage.Storage{}
	for _, n := range opts.StorageOrder {
		stores[n] = mappingstorage.New(n, false)
	}
	srv, err := New(stores, opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := client.Dial(ctx, []string{l.Addr().String()}, client.Options{Storage: "missing", Timeout: 5 * time.Second})
	cancel()
	if err == nil {
		c.Close()
		t.Error("registering an unknown storage succeeded")
	}
	srv.Close()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(logs, "\n")
	if !regexp.MustCompile(`20 ZEO.StorageServer StorageServer created RW with storages: 1:RW:[^,]*, other:RW:[^,]*, mem:RW:`).MatchString(all) {
		t.Errorf("created line not in config order:\n%s", all)
	}
	if !regexp.MustCompile(`(?s)closing storage '1'.*closing storage 'other'.*closing storage 'mem'`).MatchString(all) {
		t.Errorf("storages not closed in config order:\n%s", all)
	}
	if !regexp.MustCompile(`20 ZEO.StorageServer \([^)]*\) unknown storage_id: missing`).MatchString(all) {
		t.Errorf("no unknown storage_id line:\n%s", all)
	}
}

// The pack log line shows the pack time as Python's %s of a float does
// ("pack(time=1795974685.0) started..."), interop item 2.
func TestPackLogFloatRepr(t *testing.T) {
	var mu sync.Mutex
	var logs []string
	addr, _ := newMapping(t, Options{Log: func(l Level, name, msg string) {
		mu.Lock()
		logs = append(logs, msg)
		mu.Unlock()
	}})
	c := dial(t, addr, client.Options{})
	if _, err := c.Call("pack", float64(1795974685), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(logs, "\n"), "pack(time=1795974685.0) complete")
	})
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), "pack(time=1795974685.0) started...") {
		t.Errorf("logs %q", logs)
	}
}
