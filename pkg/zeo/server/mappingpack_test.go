package server

import (
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// Records made by Python 3.11's pickle (protocol 3) with ZODB's
// persistent-id forms: a PersistentMapping whose state refers to oid 1
// as (oid, None) and to oid 3 of database 'o' as ['m', ('o', oid, None)];
// one referring to oid 2 as a bare oid; one empty.
const (
	recClass = "\x80\x03X\x12\x00\x00\x00persistent.mappingq\x00X\x11\x00\x00\x00PersistentMappingq\x01\x86q\x02."
	recRoot  = recClass + "\x80\x03}q\x03(X\x01\x00\x00\x00aq\x04C\x08\x00\x00\x00\x00\x00\x00\x00\x01q\x05N\x86q\x06QX\x05\x00\x00\x00otherq\x07]q\x08(X\x01\x00\x00\x00mq\tX\x01\x00\x00\x00oq\nC\x08\x00\x00\x00\x00\x00\x00\x00\x03q\x0bN\x87q\x0ceQu."
	recTo2   = recClass + "\x80\x03}q\x03X\x01\x00\x00\x00bq\x04C\x08\x00\x00\x00\x00\x00\x00\x00\x02q\x05Qs."
	recEmpty = recClass + "\x80\x03}q\x03."
)

// ZODB's PackableStorage tests against a <mappingstorage> server
// (testPackJustOldRevisions, testPackOnlyOneObject,
// testPackWithMultiDatabaseReferences): pack keeps each object's current
// revision, and its GC keeps what the root reaches by strong references
// only, as ZODB 6.3's MappingStorage.pack does.
func TestMappingStoragePackGC(t *testing.T) {
	addr, ms := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})
	t0 := commit(t, c, nil, map[storage.OID][]byte{
		0: []byte(recRoot), 1: []byte(recEmpty), 2: []byte(recEmpty),
		3: []byte(recEmpty), 4: []byte(recEmpty)})
	t1 := commit(t, c, map[storage.OID]tid.TID{1: t0}, map[storage.OID][]byte{1: []byte(recTo2)})
	t2 := commit(t, c, map[storage.OID]tid.TID{1: t1}, map[storage.OID][]byte{1: []byte(recTo2)})
	if ms.Len() != 5 {
		t.Fatalf("Len before pack = %d, want 5", ms.Len())
	}
	packAt := float64(time.Now().Unix() + 1)
	if _, err := c.Call("pack", packAt, true); err != nil {
		t.Fatal(err)
	}
	if ms.Len() != 3 {
		t.Errorf("Len after pack = %d, want 3 (root, 1, 2)", ms.Len())
	}
	for _, oid := range []storage.OID{3, 4} {
		if _, err := c.Call("loadBefore", oid.Bytes(), storage.TIDBytes(tid.Max)); !client.IsClass(err, "POSKeyError") {
			t.Errorf("oid %d after GC: %v, want POSKeyError", oid, err)
		}
	}
	v, err := c.Call("history", storage.OID(1).Bytes(), int64(10))
	if seq, _ := wire.AsSeq(v); err != nil || len(seq) != 1 {
		t.Errorf("history(1) after pack = %s, %v; want the current revision only", wire.Repr(v), err)
	}
	if _, err := c.Call("loadSerial", storage.OID(1).Bytes(), storage.TIDBytes(t2)); err != nil {
		t.Errorf("current revision of oid 1: %v", err)
	}
	if _, err := c.Call("loadSerial", storage.OID(1).Bytes(), storage.TIDBytes(t1)); !client.IsClass(err, "POSKeyError") {
		t.Errorf("old revision of oid 1: %v, want POSKeyError", err)
	}
	// The same time again does nothing; an earlier one is refused.
	if _, err := c.Call("pack", packAt, true); err != nil {
		t.Errorf("pack to the same time: %v", err)
	}
	if _, err := c.Call("pack", packAt-10, true); !client.IsClass(err, "ValueError") {
		t.Errorf("pack to an earlier time: %v, want ValueError", err)
	}
}
