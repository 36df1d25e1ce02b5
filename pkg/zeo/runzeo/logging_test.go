package runzeo

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// handshake connects to a ZEO Unix socket, reads the server's protocol
// frame and answers Z5, then hangs up: three log records on the server
// (Connected, received handshake, disconnected).
func handshake(t *testing.T, sock string) {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(n[:]))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0, 0, 0, 2, 'Z', '5'}); err != nil {
		t.Fatal(err)
	}
}

// TestLogRotationAndSyslog: a zeo.conf with a size-rotated <logfile>, a
// time-rotated one and a <syslog> handler starts; connections make the
// server log, and the files rotate under Python's names while the
// records also reach the syslog socket.
func TestLogRotationAndSyslog(t *testing.T) {
	dir, err := os.MkdirTemp("", "zlog") // short: Unix socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	syslogSock := filepath.Join(dir, "log")
	syslogConn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: syslogSock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer syslogConn.Close()
	received := make(chan string, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := syslogConn.ReadFrom(buf)
			if err != nil {
				close(received)
				return
			}
			received <- string(buf[:n])
		}
	}()
	zeoSock := filepath.Join(dir, "zeo.sock")
	conf := filepath.Join(dir, "zeo.conf")
	text := fmt.Sprintf(`<zeo>
  address %s
</zeo>
<filestorage 1>
  path %s
</filestorage>
<eventlog>
  level info
  <logfile>
    path %s
    max-size 800
    old-files 3
  </logfile>
  <logfile>
    path %s
    when S
    interval 1
    old-files 50
  </logfile>
  <syslog>
    address %s
    facility local1
  </syslog>
</eventlog>
`, zeoSock, filepath.Join(dir, "Data.fs"), filepath.Join(dir, "size.log"), filepath.Join(dir, "timed.log"), syslogSock)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startRunzeo(t, "", "-C", conf)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(zeoSock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runzeo did not create %s", zeoSock)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// At least 2.5 s of connections, so the one-second file rotates too.
	start := time.Now()
	for i := 0; i < 12 || time.Since(start) < 2500*time.Millisecond; i++ {
		handshake(t, zeoSock)
		time.Sleep(200 * time.Millisecond)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("runzeo exited %d", code)
	}

	for _, name := range []string{"size.log", "size.log.1", "size.log.2", "size.log.3"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Size() >= 800 || st.Size() == 0 {
			t.Errorf("%s has %d bytes (max-size 800)", name, st.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "size.log.4")); err == nil {
		t.Errorf("size.log.4 kept with old-files 3")
	}
	timed, _ := filepath.Glob(filepath.Join(dir, "timed.log.*"))
	if len(timed) < 2 {
		t.Fatalf("time-rotated files %q, want at least 2 after 2.5 s with when S", timed)
	}
	for _, f := range timed {
		suffix := strings.TrimPrefix(filepath.Base(f), "timed.log.")
		if _, err := time.ParseInLocation("2006-01-02_15-04-05", suffix, time.Local); err != nil {
			t.Errorf("rotated file %s: suffix is not Python's %%Y-%%m-%%d_%%H-%%M-%%S", f)
		}
	}
	syslogConn.Close()
	var handshakes int
	for msg := range received {
		// local1 (17) * 8 + info (6) = 142.
		if strings.HasPrefix(msg, "<142>") && strings.Contains(msg, "ZEO.asyncio.server received handshake 'Z5'") {
			handshakes++
		}
	}
	if handshakes < 12 {
		t.Errorf("%d handshake records reached syslog, want 12 or more", handshakes)
	}
}
