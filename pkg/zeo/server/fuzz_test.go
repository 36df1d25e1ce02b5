package server

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
	"github.com/zdkit/zdkit/pkg/zeo/wire"
)

// FuzzServerMessages feeds arbitrary pickle frames, after a real
// handshake and register, to a server connection. Whatever arrives, the
// server must not panic (the recover in handle would log "internal
// error", which fails the target) and must keep serving other clients.
func FuzzServerMessages(f *testing.F) {
	for _, m := range []wire.Message{
		{ID: int64(2), Flags: false, Method: "loadBefore", Args: wire.Tuple{make([]byte, 8), []byte("\x7f\xff\xff\xff\xff\xff\xff\xff")}},
		{ID: int64(0), Flags: true, Method: "tpc_begin", Args: wire.Tuple{int64(7), []byte("u"), []byte("d"), &wire.Dict{}, nil, " "}},
		{ID: int64(0), Flags: true, Method: "storea", Args: wire.Tuple{make([]byte, 8), make([]byte, 8), []byte("x"), int64(7)}},
		{ID: int64(3), Flags: false, Method: "vote", Args: wire.Tuple{int64(7)}},
		{ID: int64(4), Flags: false, Method: "tpc_finish", Args: wire.Tuple{int64(7)}},
		{ID: int64(5), Flags: false, Method: "undoInfo", Args: wire.Tuple{int64(0), int64(5), wire.NewDict("user_name", "x")}},
		{ID: int64(6), Flags: false, Method: "iterator_start", Args: wire.Tuple{nil, nil}},
		{ID: int64(7), Flags: false, Method: "history", Args: wire.Tuple{make([]byte, 8), int64(-5)}},
		{ID: int64(8), Flags: false, Method: "new_oids", Args: wire.Tuple{int64(1 << 40)}},
	} {
		b, _ := wire.Pickle.Encode(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var mu sync.Mutex
		var internal []string
		ms := mappingstorage.New("", false)
		srv, err := New(map[string]storage.Storage{"1": ms}, Options{Log: func(l Level, name, msg string) {
			if strings.Contains(msg, "internal error") {
				mu.Lock()
				internal = append(internal, msg)
				mu.Unlock()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(l)
		defer srv.Close()
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		wire.ReadFrame(nc, 0)
		wire.WriteFrame(nc, []byte("Z5"))
		reg, _ := wire.Pickle.Encode(wire.Message{ID: int64(1), Flags: false, Method: "register", Args: wire.Tuple{"1", false}})
		wire.WriteFrame(nc, reg)
		wire.ReadFrame(nc, 0)
		wire.WriteFrame(nc, frame)
		ping, _ := wire.Pickle.Encode(wire.Message{ID: int64(99), Flags: false, Method: "ping", Args: wire.Tuple{}})
		wire.WriteFrame(nc, ping)
		// Read until the ping reply or the connection closes.
		for {
			b, err := wire.ReadFrame(nc, 0)
			if err != nil {
				break
			}
			m, err := wire.Pickle.Decode(b)
			if err != nil {
				t.Fatalf("server sent an undecodable frame: %v", err)
			}
			if wire.Equal(m.ID, int64(99)) {
				break
			}
		}
		nc.Close()
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(internal) > 0 {
			t.Fatalf("handler panicked: %v", internal)
		}
	})
}
