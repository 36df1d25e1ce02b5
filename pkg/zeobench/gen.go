package zeobench

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Generate writes a new Data.fs at path holding objects oids 1..n, one
// revision each, size bytes of pickle-like data (the shape of ZODB's own records: 106-byte records for 64-byte pickles),
// 1000 objects per transaction, without fsync, and saves its index.
func Generate(path string, n, size int) error {
	fs, err := filestorage.Open(path, filestorage.Options{Create: true, NoSync: true})
	if err != nil {
		return err
	}
	data := make([]byte, max(size, 8))
	for i := range data {
		data[i] = 'x'
	}
	for first := 1; first <= n; first += 1000 {
		x, err := fs.Begin(filestorage.TxnMeta{})
		if err != nil {
			fs.Close()
			return err
		}
		for o := first; o < first+1000 && o <= n; o++ {
			binary.BigEndian.PutUint64(data, uint64(o))
			if err := x.Store(filestorage.Oid(o), 0, data); err != nil {
				x.Abort()
				fs.Close()
				return err
			}
		}
		if err := x.Vote(); err != nil {
			x.Abort()
			fs.Close()
			return err
		}
		if _, err := x.Finish(); err != nil {
			fs.Close()
			return err
		}
	}
	return fs.Close() // writes Data.fs.index
}

// Startup is what StartRunzeo measured.
type Startup struct {
	Objects int `json:"objects"`
	// Seconds from exec to the first successful register (the server
	// serves its storage, index loaded).
	Seconds float64 `json:"seconds"`
	// RSSMiB of the server after it answered, and after loads of Loaded
	// random objects.
	RSSMiB       float64 `json:"rss_mib"`
	Loaded       int     `json:"loaded"`
	LoadedRSSMiB float64 `json:"loaded_rss_mib"`
}

// StartRunzeo runs `runzeo -a 127.0.0.1:PORT -f datafs` from the runzeo
// binary at bin, measures how long it takes to serve, then loads `loads`
// objects spread over oids 1..objects and reads its RSS. The process is
// stopped before returning.
func StartRunzeo(ctx context.Context, bin, datafs string, objects, loads int) (*Startup, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, "-a", addr, "-f", datafs)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	var c *client.Client
	for {
		c, err = client.Dial(ctx, []string{addr}, client.Options{Timeout: time.Second})
		if err == nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			return nil, fmt.Errorf("runzeo did not serve %s within 60 s: %w", datafs, err)
		}
		time.Sleep(time.Millisecond)
	}
	defer c.Close()
	res := &Startup{Objects: objects, Seconds: time.Since(start).Seconds(), RSSMiB: RSSMiB(cmd.Process.Pid)}
	if loads > 0 && objects > 0 {
		step := max(objects/loads, 1)
		for o := 1; o <= objects && res.Loaded < loads; o += step {
			if _, _, _, ok, err := c.LoadBefore(storage.OID(o), tid.Max); err != nil || !ok {
				return nil, fmt.Errorf("loading %d: %v", o, err)
			}
			res.Loaded++
		}
		res.LoadedRSSMiB = RSSMiB(cmd.Process.Pid)
	}
	return res, nil
}
