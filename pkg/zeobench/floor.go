package zeobench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Floor is what this machine costs at the least for the two things every
// figure is made of: one request/reply over loopback TCP, and one small
// write made durable. Figures read as multiples of it compare across
// machines and across runs of a busy machine.
type Floor struct {
	// EchoWallUs is the round trip of one 100-byte request and its
	// 100-byte reply to a bare echo server; EchoServerCPUUs the echo
	// server's CPU time per round trip (user+system from /proc when the
	// server is a process of its own, else both sides together).
	EchoWallUs, EchoServerCPUUs float64
	// EchoPacedServerCPUUs is the same with a pause of EchoPause between
	// round trips, as a Python client leaves between its calls: the
	// server then goes idle before each request and pays the wake-up
	// (scheduler, epoll, futex), which back-to-back requests avoid. It
	// is the floor a Python client's request is measured against.
	EchoPacedServerCPUUs float64
	EchoInProcess        bool
	// FsyncWallUs and FsyncCPUUs: one 200-byte append plus fsync, wall
	// time and the CPU time of the thread that does it (kernel included).
	FsyncWallUs, FsyncCPUUs float64
}

func (f Floor) String() string {
	where := "echo server process"
	if f.EchoInProcess {
		where = "client+server, one process"
	}
	return fmt.Sprintf("floor: echo round trip (100 B each way, loopback TCP) %.1f µs wall, %.1f µs CPU back to back, %.1f µs CPU with %v pauses (%s); write 200 B + fsync %.0f µs wall, %.1f µs CPU",
		f.EchoWallUs, f.EchoServerCPUUs, f.EchoPacedServerCPUUs, EchoPause, where, f.FsyncWallUs, f.FsyncCPUUs)
}

// EchoPause is the pause between the paced echo round trips: about what
// a Python ZEO client spends between two calls.
const EchoPause = 500 * time.Microsecond

// echoServerFlag makes zeobench serve as the floor's echo server (a
// process of its own, so its CPU time is its alone).
const echoServerFlag = "-echo-server"

// ServeEcho listens on a loopback port, prints the address on stdout and
// echoes each connection's bytes back until stdin closes.
func ServeEcho(stdin io.Reader, stdout io.Writer) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	fmt.Fprintln(stdout, l.Addr())
	io.Copy(io.Discard, stdin)
	return nil
}

// MeasureFloor measures the floor for about d (default 1 s per part).
// exe is a zeobench binary to run as the echo server; empty (or when it
// cannot start) the echo server runs in this process.
func MeasureFloor(ctx context.Context, exe string, d time.Duration) (Floor, error) {
	if d <= 0 {
		d = time.Second
	}
	var f Floor
	addr, pid, stop, err := startEcho(ctx, exe)
	if err != nil {
		return f, err
	}
	defer stop()
	f.EchoInProcess = pid == 0
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return f, err
	}
	defer c.Close()
	req := make([]byte, 100)
	reply := make([]byte, 100)
	roundTrip := func() error {
		if _, err := c.Write(req); err != nil {
			return err
		}
		_, err := io.ReadFull(c, reply)
		return err
	}
	for i := 0; i < 200; i++ { // warm up
		if err := roundTrip(); err != nil {
			return f, err
		}
	}
	cpu0 := CPUSeconds(pid)
	if pid == 0 {
		cpu0 = ownCPUSeconds()
	}
	t0 := time.Now()
	n := 0
	for time.Since(t0) < d {
		for i := 0; i < 100; i++ {
			if err := roundTrip(); err != nil {
				return f, err
			}
		}
		n += 100
	}
	wall := time.Since(t0)
	cpu1 := CPUSeconds(pid)
	if pid == 0 {
		cpu1 = ownCPUSeconds()
	}
	f.EchoWallUs = float64(wall.Microseconds()) / float64(n)
	f.EchoServerCPUUs = (cpu1 - cpu0) * 1e6 / float64(n)
	cpu0 = cpu1
	t0, n = time.Now(), 0
	for time.Since(t0) < 2*d { // /proc counts CPU in 10 ms ticks: more round trips
		time.Sleep(EchoPause)
		if err := roundTrip(); err != nil {
			return f, err
		}
		n++
	}
	cpu1 = CPUSeconds(pid)
	if pid == 0 {
		cpu1 = ownCPUSeconds()
	}
	f.EchoPacedServerCPUUs = (cpu1 - cpu0) * 1e6 / float64(n)
	f.FsyncWallUs, f.FsyncCPUUs, err = measureFsync(d)
	return f, err
}

func startEcho(ctx context.Context, exe string) (addr string, pid int, stop func(), err error) {
	if exe != "" {
		cmd := exec.CommandContext(ctx, exe, echoServerFlag)
		in, err1 := cmd.StdinPipe()
		out, err2 := cmd.StdoutPipe()
		if err1 == nil && err2 == nil && cmd.Start() == nil {
			line, err := bufio.NewReader(out).ReadString('\n')
			stop := func() { in.Close(); cmd.Wait() }
			if err == nil {
				return strings.TrimSpace(line), cmd.Process.Pid, stop, nil
			}
			stop()
		}
	}
	pr, pw := io.Pipe()
	ar, aw := io.Pipe()
	go ServeEcho(pr, aw)
	line, err := bufio.NewReader(ar).ReadString('\n')
	if err != nil {
		return "", 0, nil, err
	}
	go io.Copy(io.Discard, ar)
	return strings.TrimSpace(line), 0, func() { pw.Close() }, nil
}

// ownCPUSeconds is this process's user+system CPU time.
func ownCPUSeconds() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// measureFsync appends 200 bytes and fsyncs, in a loop for about d, on
// one locked thread, and returns the wall and thread CPU µs per round.
func measureFsync(d time.Duration) (wallUs, cpuUs float64, err error) {
	dir, err := os.MkdirTemp("", "zeobench-floor")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	fh, err := os.OpenFile(filepath.Join(dir, "fsync"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := func() float64 {
		var ru unix.Rusage
		if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
			return 0
		}
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e3
	}
	buf := make([]byte, 200)
	c0, t0 := threadCPU(), time.Now()
	n := 0
	for n < 20 || time.Since(t0) < d {
		if _, err := fh.Write(buf); err != nil {
			return 0, 0, err
		}
		if err := fh.Sync(); err != nil {
			return 0, 0, err
		}
		n++
	}
	wall := time.Since(t0)
	return float64(wall.Microseconds()) / float64(n), (threadCPU() - c0) / float64(n), nil
}
