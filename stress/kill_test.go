package stress

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

const (
	killClients    = 8
	objsPerTxn     = 3 // every transaction writes all of its client's objects
	killShortRound = 3
	killLongRound  = 200
)

// ack is one object revision whose tpc_finish was acknowledged.
type ack struct {
	oid  storage.OID
	tid  tid.TID
	data string
}

// committer is one of the 8 clients: it owns objsPerTxn objects and
// rewrites all of them in every transaction, numbering them by seq.
type committer struct {
	id        int
	oids      []storage.OID
	serials   []tid.TID
	seq       int // next seq to attempt
	lastAcked int // highest acknowledged seq (-1: none)
	attempted int // highest seq whose vote was sent (-1: none)
	acks      []ack
	newAcks   []ack // acknowledged since the last verification
}

func payload(client, seq, obj int) string {
	// A varying tail so that records differ in length.
	pad := strings.Repeat("x", (client*7+seq*13+obj*31)%300)
	return fmt.Sprintf("client=%d seq=%d obj=%d %s", client, seq, obj, pad)
}

// parsePayload returns the client, seq and object number of a payload.
func parsePayload(p string) (c, seq, obj int, err error) {
	_, err = fmt.Sscanf(p, "client=%d seq=%d obj=%d", &c, &seq, &obj)
	return
}

// TestKillDuringCommits kills runzeo with SIGKILL at random moments while
// 8 clients commit, restarts it, and checks after every restart that the
// storage opens, passes fstest, holds every acknowledged transaction with
// its data, and holds no transaction partly.
func TestKillDuringCommits(t *testing.T) {
	t.Parallel()
	rounds := killShortRound
	if stressMode() {
		rounds = killLongRound
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "", "  blob-dir "+filepath.Join(dir, "blobs"))
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))

	cs := make([]*committer, killClients)
	bc := &blobCommitter{lastAcked: -1, attempted: -1}
	p := startZEO(t, dir, addr, conf)
	{
		c := dial(t, addr, client.Options{})
		bo, err := c.NewOIDs(1)
		if err != nil {
			t.Fatal(err)
		}
		bc.oid = bo[0]
		for i := range cs {
			oids, err := c.NewOIDs(objsPerTxn)
			if err != nil {
				t.Fatal(err)
			}
			cs[i] = &committer{id: i, oids: oids, serials: make([]tid.TID, objsPerTxn), lastAcked: -1, attempted: -1}
		}
		c.Close()
	}

	var faults, acked, unackedCommitted, truncations, blobsFound int
	start := time.Now()
	for round := 0; round < rounds; round++ {
		if round > 0 {
			p = startZEO(t, dir, addr, conf)
			if o := p.out.String(); strings.Contains(o, "cutting off incomplete transaction") || strings.Contains(o, "stray bytes") {
				truncations++ // a partial transaction was cut at open
			}
			// The server has opened the storage and is idle: the file
			// must pass fstest as it is now.
			fstest(t, path)
			u, _ := verifyKill(t, addr, cs)
			unackedCommitted += u
			blobsFound += bc.verify(t, addr)
			if t.Failed() {
				t.Fatalf("round %d: verification failed; server output:\n%s", round, p.out.String())
			}
		}
		var killed atomic.Bool
		var wg sync.WaitGroup
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.run(t, addr, &killed)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bc.run(t, addr, &killed)
		}()
		// Let the clients get going, then kill at a random moment.
		time.Sleep(time.Duration(30+rng.IntN(300)) * time.Millisecond)
		killed.Store(true)
		p.kill()
		faults++
		wg.Wait()
		if t.Failed() {
			t.Fatalf("round %d: a client failed before the kill; server output:\n%s", round, p.out.String())
		}
	}

	// Final restart: full check of every acknowledged revision, then a
	// clean stop and fstest plus a transaction-by-transaction walk.
	p = startZEO(t, dir, addr, conf)
	fstest(t, path)
	u, _ := verifyKill(t, addr, cs)
	unackedCommitted += u
	blobsFound += bc.verify(t, addr)
	p.stop()
	fstest(t, path)
	// Every acknowledged revision, checked against one walk of the file
	// (loadSerial on all of them would walk each object's history
	// chain: quadratic).
	txns, revs := walkAtomic(t, path)
	// Each cut-off tail is saved as Data.fs.trN (ZODB's _truncate).
	saved, _ := filepath.Glob(path + ".tr*")
	truncations = max(truncations, len(saved))
	found := 0
	for _, c := range cs {
		acked += len(c.acks)
		for _, a := range c.acks {
			if d, ok := revs[revKey{a.oid, a.tid}]; !ok {
				t.Errorf("client %d: acknowledged revision %s of %s is not in the file", c.id, a.tid, a.oid)
			} else if d != a.data {
				t.Errorf("client %d: revision %s of %s has %.60q, want %.60q", c.id, a.tid, a.oid, d, a.data)
			} else {
				found++
			}
		}
	}
	ackedTxns := acked / objsPerTxn
	if blobsFound != len(bc.acks) {
		t.Errorf("found %d acknowledged blob transactions of %d", blobsFound, len(bc.acks))
	}
	report(t, "rounds %d, faults injected (SIGKILL) %d, transactions acknowledged %d (+%d blob), acknowledged found with their data %d (+%d blob), committed but unacknowledged (complete) %d, restarts that cut a partial transaction %d, transactions in Data.fs %d, %.1fs",
		rounds, faults, ackedTxns, len(bc.acks), found/objsPerTxn, blobsFound, unackedCommitted, truncations, txns, time.Since(start).Seconds())
	if found != acked {
		t.Errorf("found %d acknowledged revisions of %d", found, acked)
	}
	if ackedTxns == 0 {
		t.Fatal("no transaction was acknowledged: the test did not exercise anything")
	}
}

// run commits until the connection breaks. An error before the kill is a
// test failure.
func (c *committer) run(t *testing.T, addr string, killed *atomic.Bool) {
	cl, err := tryDial(addr, client.Options{})
	if err != nil {
		if !killed.Load() {
			t.Errorf("client %d: dial: %v", c.id, err)
		}
		return
	}
	defer cl.Close()
	for ; ; c.seq++ {
		tx, err := cl.Begin("stress", fmt.Sprintf("client %d seq %d", c.id, c.seq), nil)
		if err != nil {
			c.failed(t, killed, "tpc_begin", err)
			return
		}
		data := make([]string, objsPerTxn)
		for k, o := range c.oids {
			data[k] = payload(c.id, c.seq, k)
			if err := tx.Store(o, c.serials[k], []byte(data[k])); err != nil {
				c.failed(t, killed, "storea", err)
				return
			}
		}
		c.attempted = c.seq
		conflicts, _, err := tx.Vote()
		if err != nil {
			c.failed(t, killed, "vote", err)
			return
		}
		if len(conflicts) > 0 {
			t.Errorf("client %d seq %d: conflicts on objects only it writes: %+v", c.id, c.seq, conflicts)
			return
		}
		ntid, err := tx.Finish()
		if err != nil {
			c.failed(t, killed, "tpc_finish", err)
			return
		}
		c.lastAcked = c.seq
		for k, o := range c.oids {
			c.serials[k] = ntid
			a := ack{oid: o, tid: ntid, data: data[k]}
			c.acks = append(c.acks, a)
			c.newAcks = append(c.newAcks, a)
		}
	}
}

func (c *committer) failed(t *testing.T, killed *atomic.Bool, phase string, err error) {
	if killed.Load() {
		return
	}
	// The kill may land between our check and the error: wait a little
	// for the flag before calling it a failure.
	time.Sleep(200 * time.Millisecond)
	if !killed.Load() {
		t.Errorf("client %d seq %d: %s failed before any fault: %v", c.id, c.seq, phase, err)
	}
}

// verifyKill checks the acknowledged revisions new since the last check
// with loadSerial, and that each client's objects
// currently all carry the same seq, no older than its last acknowledged
// one and no newer than its last attempt. It sets the clients' serials
// for the next round and returns how many clients' last unacknowledged
// transaction turned out committed.
func verifyKill(t *testing.T, addr string, cs []*committer) (unacked, found int) {
	t.Helper()
	cl := dial(t, addr, client.Options{})
	defer cl.Close()
	for _, c := range cs {
		for _, a := range c.newAcks {
			v, err := cl.Call("loadSerial", a.oid.Bytes(), storage.TIDBytes(a.tid))
			if err != nil {
				t.Errorf("client %d: acknowledged revision %s of %s lost: %v", c.id, a.tid, a.oid, err)
				continue
			}
			if b, _ := v.([]byte); string(b) != a.data {
				t.Errorf("client %d: revision %s of %s has %.60q, want %.60q", c.id, a.tid, a.oid, b, a.data)
			} else {
				found++
			}
		}
		c.newAcks = nil
		seqs := map[int]bool{}
		var cur tid.TID
		for k, o := range c.oids {
			data, serial, err := cl.Load(o)
			if c.attempted < 0 && err != nil {
				seqs[-1] = true // never written, never attempted
				continue
			}
			if err != nil {
				t.Errorf("client %d: load %s: %v", c.id, o, err)
				continue
			}
			cc, seq, obj, err := parsePayload(string(data))
			if err != nil || cc != c.id || obj != k {
				t.Errorf("client %d: object %s holds %.60q (%v)", c.id, o, data, err)
				continue
			}
			if string(data) != payload(c.id, seq, k) {
				t.Errorf("client %d: object %s seq %d damaged: %.60q", c.id, o, seq, data)
			}
			seqs[seq] = true
			c.serials[k] = serial
			if k > 0 && serial != cur {
				t.Errorf("client %d: objects carry different tids %s and %s: a transaction is half there", c.id, cur, serial)
			}
			cur = serial
		}
		if len(seqs) != 1 {
			t.Errorf("client %d: objects carry different transactions %v: a transaction is half there", c.id, seqs)
			continue
		}
		for seq := range seqs {
			if seq < c.lastAcked {
				t.Errorf("client %d: current seq %d is older than acknowledged seq %d", c.id, seq, c.lastAcked)
			}
			if seq > c.attempted {
				t.Errorf("client %d: current seq %d was never voted (last %d)", c.id, seq, c.attempted)
			}
			if seq > c.lastAcked {
				unacked++
				c.lastAcked = seq
			}
			// The next round continues after whatever is there.
			c.seq = max(c.seq, c.attempted+1)
		}
	}
	return unacked, found
}

type revKey struct {
	oid storage.OID
	tid tid.TID
}

// walkAtomic reads every transaction of the file and checks that each one
// holds exactly one revision of each object of one client, all with the
// same seq: no transaction is half there. It returns the count and every
// revision's data.
func walkAtomic(t *testing.T, path string) (int, map[revKey]string) {
	t.Helper()
	it, f, err := filestorage.OpenIterator(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	revs := map[revKey]string{}
	for {
		tr, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("iterating %s: %v", path, err)
		}
		if strings.HasPrefix(string(tr.Description), "blob seq ") {
			if len(tr.Records) != 1 || string(tr.Records[0].Data) != blobPayload(0)[:len("blob seq=")]+strings.TrimPrefix(string(tr.Description), "blob seq ") {
				t.Errorf("blob transaction %s (%q) has %d records", tr.TID, tr.Description, len(tr.Records))
			}
			n++
			continue
		}
		n++
		if len(tr.Records) != objsPerTxn {
			t.Errorf("transaction %s (%q) has %d records, want %d", tr.TID, tr.Description, len(tr.Records), objsPerTxn)
			continue
		}
		var c0, s0 int
		for i, r := range tr.Records {
			revs[revKey{storage.OID(r.Oid), r.TID}] = string(r.Data)
			c, s, _, err := parsePayload(string(r.Data))
			if err != nil {
				t.Errorf("transaction %s record %d: %.60q (%v)", tr.TID, i, r.Data, err)
				continue
			}
			if i == 0 {
				c0, s0 = c, s
			} else if c != c0 || s != s0 {
				t.Errorf("transaction %s mixes client/seq %d/%d with %d/%d", tr.TID, c0, s0, c, s)
			}
			if want := fmt.Sprintf("client %d seq %d", c, s); string(tr.Description) != want {
				t.Errorf("transaction %s description %q, records say %q", tr.TID, tr.Description, want)
			}
		}
	}
	return n, revs
}
