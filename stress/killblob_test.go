package stress

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// blobCommitter runs beside the 8 committers of TestKillDuringCommits:
// it rewrites one object with a new blob in every transaction (blob
// transactions take the storage-wide lock and move a file into the blob
// directory, a second thing a crash can leave half done).
type blobCommitter struct {
	oid       storage.OID
	serial    tid.TID
	seq       int
	lastAcked int
	attempted int
	acks      []blobAck
	newAcks   []blobAck
}

type blobAck struct {
	tid tid.TID
	seq int
}

func blobPayload(seq int) string { return fmt.Sprintf("blob seq=%d", seq) }

func blobContent(seq int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("blob %d;", seq)), 2000+seq%3000)
}

func (b *blobCommitter) run(t *testing.T, addr string, killed *atomic.Bool) {
	cl, err := tryDial(addr, client.Options{})
	if err != nil {
		if !killed.Load() {
			t.Errorf("blob client: dial: %v", err)
		}
		return
	}
	defer cl.Close()
	fail := func(phase string, err error) {
		if !killed.Load() {
			t.Errorf("blob client seq %d: %s failed before any fault: %v", b.seq, phase, err)
		}
	}
	for ; ; b.seq++ {
		tx, err := cl.Begin("stress", fmt.Sprintf("blob seq %d", b.seq), nil)
		if err != nil {
			fail("tpc_begin", err)
			return
		}
		if err := tx.StoreBlob(b.oid, b.serial, []byte(blobPayload(b.seq)), blobContent(b.seq)); err != nil {
			fail("storeBlob", err)
			return
		}
		b.attempted = b.seq
		if _, _, err := tx.Vote(); err != nil {
			fail("vote", err)
			return
		}
		nt, err := tx.Finish()
		if err != nil {
			fail("tpc_finish", err)
			return
		}
		b.serial, b.lastAcked = nt, b.seq
		a := blobAck{nt, b.seq}
		b.acks = append(b.acks, a)
		b.newAcks = append(b.newAcks, a)
	}
}

// verify checks the blob revisions acknowledged since the last check
// (record and blob file) and the current one, and returns how many
// acknowledged blob revisions it found intact.
func (b *blobCommitter) verify(t *testing.T, addr string) int {
	t.Helper()
	cl := dial(t, addr, client.Options{})
	defer cl.Close()
	found := 0
	for _, a := range b.newAcks {
		v, err := cl.Call("loadSerial", b.oid.Bytes(), storage.TIDBytes(a.tid))
		if d, _ := v.([]byte); err != nil || string(d) != blobPayload(a.seq) {
			t.Errorf("blob object revision %s (seq %d): %q (%v)", a.tid, a.seq, d, err)
			continue
		}
		blob, err := cl.LoadBlob(b.oid, a.tid)
		if err != nil || !bytes.Equal(blob, blobContent(a.seq)) {
			t.Errorf("acknowledged blob %s (seq %d): %d bytes (%v), want %d", a.tid, a.seq, len(blob), err, len(blobContent(a.seq)))
			continue
		}
		found++
	}
	b.newAcks = nil
	data, serial, err := cl.Load(b.oid)
	if b.attempted < 0 && err != nil {
		return found
	}
	if err != nil {
		t.Errorf("blob object: %v", err)
		return found
	}
	var seq int
	if _, err := fmt.Sscanf(string(data), "blob seq=%d", &seq); err != nil {
		t.Errorf("blob object holds %q", data)
		return found
	}
	if seq < b.lastAcked || seq > b.attempted {
		t.Errorf("blob object at seq %d, acknowledged %d, last attempted %d", seq, b.lastAcked, b.attempted)
	}
	// Whatever revision is current, committed or not acknowledged, its
	// blob file must be complete.
	blob, err := cl.LoadBlob(b.oid, serial)
	if err != nil || !bytes.Equal(blob, blobContent(seq)) {
		t.Errorf("current blob (seq %d, %s): %d bytes (%v), want %d: the record is there without its blob file", seq, serial, len(blob), err, len(blobContent(seq)))
	}
	b.serial, b.lastAcked = serial, max(b.lastAcked, seq)
	b.seq = max(b.seq, b.attempted+1)
	return found
}
