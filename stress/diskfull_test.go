package stress

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// smallDisk mounts a tmpfs of the given size on a new directory and
// unmounts it in cleanup. It skips the test when that is not possible
// (not root, no mount privilege).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full tests need root to mount a small tmpfs (run `make stress` as root, e.g. in a container)")
	}
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a %s tmpfs (%v: %s); disk-full tests skipped", size, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a filler file until the file system is full and
// returns its path; removing it gives the space back.
func fillDisk(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return path
			}
			t.Fatalf("filling %s: %v", dir, err)
		}
	}
}

// history keeps the acknowledged current revision of every object.
type history struct {
	cur map[storage.OID]tid.TID
	dat map[storage.OID]string
}

func (h *history) commit(t *testing.T, c *client.Client, oids []storage.OID, label string, size int) error {
	t.Helper()
	serials := make([]tid.TID, len(oids))
	data := make([][]byte, len(oids))
	for i, o := range oids {
		serials[i] = h.cur[o]
		data[i] = record(t, fmt.Sprintf("%s %d %s", label, i, strings.Repeat("d", size)))
	}
	nt, err := commit(c, oids, serials, data)
	if err != nil {
		return err
	}
	for i, o := range oids {
		h.cur[o], h.dat[o] = nt, string(data[i])
	}
	return nil
}

func (h *history) verify(t *testing.T, c *client.Client) {
	t.Helper()
	for o, want := range h.cur {
		data, s, err := c.Load(o)
		if err != nil || s != want || string(data) != h.dat[o] {
			t.Errorf("object %s reads %.40q at %s (%v), want its acknowledged revision %s", o, data, s, err, want)
		}
	}
}

// isClearDiskError reports whether a client-visible error says what went
// wrong.
func isClearDiskError(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "no space left on device")
}

// TestDiskFullDuringCommit: the file system holding Data.fs fills up; a
// commit fails with an error naming the cause, the server keeps running,
// and once space returns commits work again and nothing acknowledged is
// lost, also across a restart.
func TestDiskFullDuringCommit(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, "2m")
	path := filepath.Join(disk, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "", "")
	p := startZEO(t, disk, addr, conf)
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(4)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{cur: map[storage.OID]tid.TID{}, dat: map[storage.OID]string{}}
	for i := 0; i < 5; i++ {
		if err := h.commit(t, c, oids, fmt.Sprintf("before %d", i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	var fillers []string
	faults := 0
	for i, size := range []int{200 << 10, 8 << 10} { // both larger than the slack in Data.fs's last tmpfs page
		// Fill again each time: a failed commit gives back what it had
		// written when the storage cuts its partial transaction off.
		fillers = append(fillers, fillDisk(t, disk, fmt.Sprintf("filler%d", i)))
		err := h.commit(t, c, oids, "while full", size)
		faults++
		if err == nil {
			t.Fatalf("a %d-byte commit succeeded on a full disk", size)
		}
		if !isClearDiskError(err) {
			t.Errorf("commit on a full disk failed with %v, want an error naming 'no space left on device'", err)
		}
		t.Logf("commit of %d bytes on a full disk: %v", size, err)
	}
	if !p.alive() {
		t.Fatalf("runzeo died on a full disk:\n%s", p.out.String())
	}
	h.verify(t, c)
	for _, f := range fillers {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.commit(t, c, oids, "after space returned", 1000); err != nil {
		t.Fatalf("commit after space returned: %v\nserver output:\n%s", err, p.out.String())
	}
	h.verify(t, c)
	c.Close()
	p.stop()
	fstest(t, path)
	p = startZEO(t, disk, addr, conf)
	c = dial(t, addr, client.Options{})
	h.verify(t, c)
	c.Close()
	// Stopping on a full disk: the index cannot be written; runzeo must
	// still exit, and the next start must rebuild what it needs.
	filler := fillDisk(t, disk, "filler-stop")
	faults++
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		t.Logf("runzeo stopped on a full disk: %v", p.status)
	case <-time.After(15 * time.Second):
		t.Fatalf("runzeo did not exit on SIGTERM with a full disk:\n%s", p.out.String())
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	fstest(t, path)
	p = startZEO(t, disk, addr, conf)
	c = dial(t, addr, client.Options{})
	h.verify(t, c)
	c.Close()
	p.stop()
	fstest(t, path)
	report(t, "disk-full faults injected %d (2 commits, 1 stop), transactions acknowledged %d, all found after restart", faults, 6)
}

// TestDiskFullDuringPack: pack cannot write its copy; it fails with an
// error naming the cause, leaves no partial pack file taking the space,
// the storage stays usable, and a pack after space returns works.
func TestDiskFullDuringPack(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, "4m")
	path := filepath.Join(disk, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "", "  pack-gc false")
	p := startZEO(t, disk, addr, conf)
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(2)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{cur: map[storage.OID]tid.TID{}, dat: map[storage.OID]string{}}
	for i := 0; i < 20; i++ {
		if err := h.commit(t, c, oids, fmt.Sprintf("rev %d", i), 20<<10); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	before := fi.Size()
	filler := fillDisk(t, disk, "filler")
	packTime := func() float64 { return float64(time.Now().Add(time.Second).UnixNano()) / 1e9 }
	_, err = c.Call("pack", packTime(), true)
	if err == nil {
		t.Fatalf("pack succeeded on a full disk")
	}
	if !isClearDiskError(err) {
		t.Errorf("pack on a full disk failed with %v, want an error naming 'no space left on device'", err)
	}
	t.Logf("pack on a full disk: %v", err)
	if !p.alive() {
		t.Fatalf("runzeo died when pack hit a full disk:\n%s", p.out.String())
	}
	ents, _ := os.ReadDir(disk)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".pack") {
			t.Errorf("failed pack left %s behind, holding the space", e.Name())
		}
	}
	h.verify(t, c)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := h.commit(t, c, oids, "after failed pack", 100); err != nil {
		t.Fatalf("commit after the failed pack: %v\nserver output:\n%s", err, p.out.String())
	}
	if _, err := c.Call("pack", packTime(), true); err != nil {
		t.Fatalf("pack after space returned: %v", err)
	}
	h.verify(t, c)
	fi, err = os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= before {
		t.Errorf("Data.fs is %d bytes after pack, was %d before: nothing packed", fi.Size(), before)
	}
	c.Close()
	p.stop()
	fstest(t, path)
	p = startZEO(t, disk, addr, conf)
	c = dial(t, addr, client.Options{})
	h.verify(t, c)
	c.Close()
	p.stop()
	report(t, "pack on a full disk refused with a clear error, storage usable, second pack done (Data.fs %d -> %d bytes)", before, fi.Size())
}

// setFileSizeLimit sets RLIMIT_FSIZE of a running process with
// prlimit(1) ("unlimited" or a byte count); the soft limit is what
// counts.
func setFileSizeLimit(t *testing.T, pid int, limit string) {
	t.Helper()
	prl, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit(1) not installed; RLIMIT_FSIZE test skipped")
	}
	// Soft limit only ("N:"): lifting it again needs no privilege.
	if out, err := exec.Command(prl, "--pid", fmt.Sprint(pid), "--fsize="+limit+":").CombinedOutput(); err != nil {
		t.Skipf("prlimit --fsize on runzeo: %v: %s", err, bytes.TrimSpace(out))
	}
}

// TestFileSizeLimitDuringCommit: the same fault as a full disk, for any
// user: RLIMIT_FSIZE set on the running runzeo just above Data.fs's size.
// Go ignores SIGXFSZ, so the write fails with EFBIG; the commit must
// fail with an error naming it, the server stay up, and everything
// acknowledged survive once the limit is lifted and across a restart.
func TestFileSizeLimitDuringCommit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "", "")
	p := startZEO(t, dir, addr, conf)
	c := dial(t, addr, client.Options{})
	oids, err := c.NewOIDs(3)
	if err != nil {
		t.Fatal(err)
	}
	h := &history{cur: map[storage.OID]tid.TID{}, dat: map[storage.OID]string{}}
	for i := 0; i < 5; i++ {
		if err := h.commit(t, c, oids, fmt.Sprintf("before %d", i), 1000); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	setFileSizeLimit(t, p.cmd.Process.Pid, fmt.Sprint(fi.Size()+1000))
	err = h.commit(t, c, oids, "over the limit", 100<<10)
	if err == nil {
		t.Fatal("a commit past RLIMIT_FSIZE succeeded")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "file too large") {
		t.Errorf("commit past RLIMIT_FSIZE failed with %v, want an error naming 'file too large'", err)
	}
	t.Logf("commit past RLIMIT_FSIZE: %v", err)
	if !p.alive() {
		t.Fatalf("runzeo died at RLIMIT_FSIZE (SIGXFSZ not ignored?):\n%s", p.out.String())
	}
	h.verify(t, c)
	setFileSizeLimit(t, p.cmd.Process.Pid, "unlimited")
	if err := h.commit(t, c, oids, "after the limit was lifted", 100<<10); err != nil {
		t.Fatalf("commit after the limit was lifted: %v\nserver output:\n%s", err, p.out.String())
	}
	h.verify(t, c)
	c.Close()
	p.stop()
	fstest(t, path)
	p = startZEO(t, dir, addr, conf)
	c = dial(t, addr, client.Options{})
	h.verify(t, c)
	c.Close()
	p.stop()
	report(t, "RLIMIT_FSIZE fault injected 1, transactions acknowledged 6, all found after restart")
}
