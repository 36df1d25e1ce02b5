package server

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// What the issue asks to work by default: big records, thousands of
// stores in one transaction, dozens of connections.
func TestScaleDefaults(t *testing.T) {
	addr, _ := newMapping(t, Options{})
	c := dial(t, addr, client.Options{})

	big := bytes.Repeat([]byte("0123456789abcdef"), 30<<20/16) // 30 MiB record
	t1 := commit(t, c, nil, map[storage.OID][]byte{1: big})
	data, serial, err := c.Load(1)
	if err != nil || serial != t1 || !bytes.Equal(data, big) {
		t.Fatalf("big record: %d bytes, %v, %v", len(data), serial, err)
	}

	tx, err := c.Begin("", "many", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := 0; i < n; i++ {
		if err := tx.Store(storage.OID(100+i), 0, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
		t.Fatalf("vote: %v %v", cf, err)
	}
	if _, err := tx.Finish(); err != nil {
		t.Fatal(err)
	}
	if d, _, err := c.Load(100 + n - 1); err != nil || string(d) != fmt.Sprint(n-1) {
		t.Errorf("last of %d stores: %q %v", n, d, err)
	}

	// 40 connections, each committing its own object while all load.
	const conns = 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cc := dial(t, addr, client.Options{})
			var serial tid.TID
			for j := 0; j < 5; j++ {
				tx, err := cc.Begin("", "", nil)
				if err != nil {
					errs <- err
					return
				}
				tx.Store(storage.OID(10000+i), serial, []byte{byte(j)})
				if cf, _, err := tx.Vote(); err != nil || len(cf) != 0 {
					errs <- fmt.Errorf("vote: %v %v", cf, err)
					return
				}
				if serial, err = tx.Finish(); err != nil {
					errs <- err
					return
				}
				if _, _, err := cc.Load(100); err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if v := status(t, c, "commits"); v != int64(2+conns*5) {
		t.Errorf("commits = %v", v)
	}
}

// Several named storages on one server are independent.
func TestSeveralStorages(t *testing.T) {
	a, b := mappingstorage.New("A", false), mappingstorage.New("B", true)
	addr := startServer(t, map[string]storage.Storage{"main": a, "ro": b}, Options{})
	cm := dial(t, addr, client.Options{Storage: "main"})
	cr := dial(t, addr, client.Options{Storage: "ro", ReadOnlyFallback: true})
	if !cr.ReadOnly {
		t.Error("read-only storage registered writable")
	}
	commit(t, cm, nil, map[storage.OID][]byte{0: []byte("root")})
	if _, _, err := cr.Load(0); !client.IsClass(err, "POSKeyError") {
		t.Errorf("object leaked between storages: %v", err)
	}
	info, err := cr.Call("get_info")
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := info.(interface{ Get(string) (any, bool) }).Get("name"); name != "B" {
		t.Errorf("get_info name %v", name)
	}
}
