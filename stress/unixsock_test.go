package stress

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
)

// TestUnixSocketAfterKill: runzeo on a Unix socket is SIGKILLed, which
// leaves the socket file behind; the next runzeo must start on the same
// path (a stale socket must not keep a supervised server down) and serve
// the data committed before the kill. A clean stop removes the socket.
func TestUnixSocketAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	sock := filepath.Join(dir, "zeo.sock")
	conf := fsConf(path, "", "")
	p := startZEO(t, dir, sock, conf)
	c := dial(t, sock, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := commit(c, oids, []tid.TID{0}, [][]byte{record(t, "before kill")})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p.kill()
	if _, err := os.Lstat(sock); err != nil {
		t.Logf("socket file gone after SIGKILL: %v", err)
	}
	p, err = tryStartZEO(t, dir, sock, conf, nil)
	if err != nil {
		t.Fatalf("runzeo does not start on the Unix socket a SIGKILLed runzeo left behind: %v", err)
	}
	c = dial(t, sock, client.Options{})
	data, s, err := c.Load(oids[0])
	if err != nil || s != nt || string(data) != string(record(t, "before kill")) {
		t.Fatalf("after restart: %q at %s (%v)", data, s, err)
	}
	c.Close()
	p.stop()
	if _, err := os.Lstat(sock); err == nil {
		t.Errorf("socket %s still there after a clean stop", sock)
	}
	fstest(t, path)
}

// TestUnixSocketInUse: a second runzeo started on the Unix socket of a
// running one must refuse to start rather than unlink the live socket
// and take the clients over.
func TestUnixSocketInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "zeo.sock")
	first := filepath.Join(dir, "first")
	second := filepath.Join(dir, "second")
	for _, d := range []string{first, second} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p1 := startZEO(t, first, sock, fsConf(filepath.Join(first, "Data.fs"), "", ""))
	c := dial(t, sock, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := commit(c, oids, []tid.TID{0}, [][]byte{record(t, "first server")})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	p2, err := tryStartZEO(t, second, sock, fsConf(filepath.Join(second, "Data.fs"), "", ""), nil)
	if err == nil {
		p2.stop()
		p1.stop()
		t.Fatal("a second runzeo started on the Unix socket of a running one (it must connect first and refuse a live socket)")
	}
	t.Logf("second runzeo refused: %v", err)
	c = dial(t, sock, client.Options{})
	data, s, err := c.Load(oids[0])
	if err != nil || s != nt || string(data) != string(record(t, "first server")) {
		t.Fatalf("the socket no longer reaches the first server: %q at %s (%v)", data, s, err)
	}
	c.Close()
	p1.stop()
}

// TestSecondServerRefused: a second runzeo on the TCP address of a
// running one, or on its Data.fs (another address), exits with an error
// and leaves the first one serving.
func TestSecondServerRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	p1 := startZEO(t, dir, addr, fsConf(path, "", ""))
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, addr, path string }{
		{"same TCP address", addr, filepath.Join(other, "Data.fs")},
		{"same Data.fs", freeAddr(t), path},
	}
	for _, tc := range cases {
		p2, err := tryStartZEO(t, other, tc.addr, fsConf(tc.path, "", ""), nil)
		if err == nil {
			p2.kill()
			t.Errorf("%s: a second runzeo started", tc.name)
			continue
		}
		t.Logf("%s: refused: %v", tc.name, err)
	}
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commit(c, oids, []tid.TID{0}, [][]byte{record(t, "first")}); err != nil {
		t.Fatalf("the first server after the refused starts: %v", err)
	}
	c.Close()
	p1.stop()
	fstest(t, path)
}
