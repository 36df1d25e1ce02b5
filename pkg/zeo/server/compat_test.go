package server

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

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
