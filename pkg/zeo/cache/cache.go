package cache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/rs/zerolog"

	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/pyrepr"
)

const (
	// Magic starts every cache file (the same since ZODB 3.3).
	Magic = "ZEC3"
	// HeaderSize is the file header: magic and last tid.
	HeaderSize = 12
	// RecordOverhead is the bytes of an allocated block besides the data:
	// status, size, oid, start tid, end tid, version length, data length,
	// and the oid again at the end.
	RecordOverhead = 43
	// MaxBlockSize is the largest block (the size field is read as a
	// signed 31-bit value by old code).
	MaxBlockSize = 1<<31 - 1
	// DefaultSize is ClientStorage's default cache_size (20 MiB).
	DefaultSize = 20 << 20
	// DefaultRearrange is the fraction of the file a hit record must lie
	// behind the ring pointer to be copied forward (ZODB 3.10.3+).
	DefaultRearrange = 0.8

	recHeader = 35 // status .. data length
)

// Errors.  Corruption found while opening a persistent file is not
// returned: the file is moved aside (as ZEO 6.0 ClientCache does).  Corruption found later is
// returned wrapped in *CorruptError.
var (
	ErrLocked         = errors.New("cache: cache file is locked by another process")
	ErrAlreadyCurrent = errors.New("cache: already have current data for oid")
	ErrTidBackwards   = errors.New("cache: new last tid must be greater than previous one")
	ErrClosed         = errors.New("cache: closed")
	ErrBadFile        = errors.New("cache: bad cache file")
	ErrInvalidRange   = errors.New("cache: non-current revision must end after it starts")
)

// CorruptError reports a damaged cache file: where, and what was wrong.
type CorruptError struct {
	Path   string
	Offset int64
	Msg    string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("cache: %s: offset %d: %s", e.Path, e.Offset, e.Msg)
}

// Unwrap makes errors.Is(err, ErrBadFile) true.
func (e *CorruptError) Unwrap() error { return ErrBadFile }

// Name returns the file name ClientStorage uses for the persistent cache
// of client `client` and storage `storage` in directory dir (ZEO's `var`,
// default the working directory): "<client>-<storage>.zec".
func Name(dir, client, storage string) string {
	if storage == "" {
		storage = "1"
	}
	return filepath.Join(dir, client+"-"+storage+".zec")
}

// Options configure Open.
type Options struct {
	// Size is the file size in bytes, header included (ClientStorage's
	// cache_size).  0 means DefaultSize; values below 12 count as 12.
	Size int64
	// Rearrange is the copy-forward factor; 0 means DefaultRearrange.
	Rearrange float64
	// Trace chooses whether "<path>.trace" is written.  The zero value
	// follows ZEO_CACHE_TRACE, as ZEO does.  Temporary caches are never
	// traced.
	Trace TraceMode
	// Now is the trace clock; nil means time.Now.
	Now func() time.Time
	// Logger receives ZEO's log messages (INFO for the file used,
	// CRITICAL->Error for bad files, WARNING for a trace file that cannot
	// be opened); nil logs nothing.
	Logger *zerolog.Logger

	// noSync skips fsync; only the fuzz test sets it (fsync latency on
	// a busy disk would starve the fuzzer).
	noSync bool
}

// TraceMode selects tracing.
type TraceMode int

const (
	TraceFromEnvironment TraceMode = iota // ZEO_CACHE_TRACE non-empty
	TraceOn
	TraceOff
)

func (m TraceMode) enabled() bool {
	switch m {
	case TraceOn:
		return true
	case TraceOff:
		return false
	}
	return TraceFromEnv()
}

// TraceFromEnv reports whether ZEO_CACHE_TRACE asks for tracing: any
// non-empty value, as in ZEO >= 3.3.
func TraceFromEnv() bool { return os.Getenv("ZEO_CACHE_TRACE") != "" }

// Stats are the counters of ClientCache.getStats().
type Stats struct {
	Adds, AddedBytes, Evicts, EvictedBytes, Accesses int64
}

type revision struct {
	start uint64
	ofs   int64
}

// Cache is an open client cache.  Its methods are safe for concurrent
// use.
type Cache struct {
	mu        sync.Mutex
	path      string // "" for a temporary cache
	f         *os.File
	lock      *flock.Flock
	maxsize   int64
	rearrange float64
	tid       uint64
	cur       int64 // ring pointer (currentofs)
	current   map[uint64]int64
	noncur    map[uint64][]revision // sorted by start
	n         int
	stats     Stats
	log       *zerolog.Logger
	trace     *tracer
	noSync    bool
	afterBody func() // test hook: between the body and the 'a' header
}

// logAt starts a log event at a Python level, the way pkg/logging does:
// the nearest zerolog level (CRITICAL as a non-exiting fatal) and the
// exact number in "levelno".  Nil without a logger.
func logAt(l *zerolog.Logger, level logging.Level) *zerolog.Event {
	if l == nil {
		return nil
	}
	zl := zerolog.InfoLevel
	switch {
	case level >= logging.LevelCritical:
		zl = zerolog.FatalLevel
	case level >= logging.LevelError:
		zl = zerolog.ErrorLevel
	case level >= logging.LevelWarning:
		zl = zerolog.WarnLevel
	}
	ev := l.WithLevel(zl)
	if ev == nil {
		return nil
	}
	return ev.Int(logging.LevelnoField, int(level))
}

// Open opens or creates the persistent cache at path, locking path+".lock"
// with flock(2) like zc.lockfile so that Python and Go clients exclude
// each other.  A file that cannot be scanned is handled as ZEO does:
// renamed to path+".bad" (or removed if that exists) and replaced by an
// empty cache.
func Open(path string, opt Options) (*Cache, error) {
	c := newCache(path, opt)
	lk := flock.New(path + ".lock")
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("cache: locking %s.lock: %w", path, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s.lock", ErrLocked, path)
	}
	c.lock = lk
	// zc.lockfile leaves " <pid>\n" in the lock file.
	os.WriteFile(path+".lock", fmt.Appendf(nil, " %d\n", os.Getpid()), 0o644)
	fail := func(err error) (*Cache, error) {
		if c.f != nil {
			c.f.Close()
		}
		lk.Unlock()
		return nil, err
	}

	fsize := int64(HeaderSize)
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if c.f, err = createFile(path); err != nil {
			return fail(err)
		}
		if ev := logAt(c.log, logging.LevelInfo); ev != nil {
			ev.Msgf("created persistent cache file %s", pyrepr.Str(path))
		}
	case err != nil:
		return fail(fmt.Errorf("cache: %w", err))
	default:
		fsize = st.Size()
		if c.f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
			return fail(fmt.Errorf("cache: %w", err))
		}
		if ev := logAt(c.log, logging.LevelInfo); ev != nil {
			ev.Msgf("reusing persistent cache file %s", pyrepr.Str(path))
		}
	}
	if err := c.initFile(fsize); err != nil {
		c.f.Close()
		c.f = nil
		bad := path + ".bad"
		if _, serr := os.Stat(bad); serr == nil {
			if ev := logAt(c.log, logging.LevelCritical); ev != nil {
				ev.Err(err).Msgf("Removing bad cache file: %s (prev bad exists).", pyrepr.Str(path))
			}
			if rerr := os.Remove(path); rerr != nil {
				return fail(fmt.Errorf("cache: removing bad cache file: %w", rerr))
			}
		} else {
			if ev := logAt(c.log, logging.LevelCritical); ev != nil {
				ev.Err(err).Msgf("Moving bad cache file to %s.", pyrepr.Str(bad))
			}
			if rerr := os.Rename(path, bad); rerr != nil {
				return fail(fmt.Errorf("cache: moving bad cache file aside: %w", rerr))
			}
		}
		if c.f, err = createFile(path); err != nil {
			return fail(err)
		}
		if err := c.initFile(HeaderSize); err != nil {
			return fail(err)
		}
	}
	if opt.Trace.enabled() {
		c.trace = openTrace(path+".trace", opt.Now, c.log)
	}
	return c, nil
}

// OpenTemp makes a transient cache in an anonymous temporary file in dir
// (os.TempDir() if empty), as ClientStorage does without a client name.
// It is never traced and has no lock.
func OpenTemp(dir string, opt Options) (*Cache, error) {
	c := newCache("", opt)
	f, err := os.CreateTemp(dir, "zeo-cache-*.zec")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	os.Remove(f.Name())
	if _, err := f.Write(append([]byte(Magic), make([]byte, 8)...)); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.f = f
	if err := c.initFile(HeaderSize); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

func newCache(path string, opt Options) *Cache {
	size := opt.Size
	if size == 0 {
		size = DefaultSize
	}
	size = max(size, HeaderSize)
	r := opt.Rearrange
	if r == 0 {
		r = DefaultRearrange
	}
	return &Cache{path: path, maxsize: size, rearrange: r * float64(size), log: opt.Logger, noSync: opt.noSync}
}

// sync is ZEO's sync(f): the file is flushed to disk after repairs made
// while opening and at close.
func (c *Cache) sync() error {
	if c.noSync {
		return nil
	}
	return c.f.Sync()
}

func createFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if _, err := f.Write(append([]byte(Magic), make([]byte, 8)...)); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	return f, nil
}

// freeHeader encodes a free block of n bytes: 'f' and the size, or the
// digit for 1-4 byte blocks.
func freeHeader(b []byte, n int64) []byte {
	if n <= 4 {
		return append(b, byte('0'+n))
	}
	b = append(b, 'f')
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// scanner reads the blocks sequentially through a buffer; far jumps
// (free blocks larger than the buffer, typically the sparse tail of a new
// file) re-position instead of reading through.
type scanner struct {
	f   *os.File
	br  *bufio.Reader
	pos int64 // file offset of the next byte br returns
}

const scanBuf = 1 << 20

func (s *scanner) seek(ofs int64) {
	if s.br != nil && ofs >= s.pos && ofs-s.pos < scanBuf/2 && int(ofs-s.pos) <= s.br.Buffered() {
		s.br.Discard(int(ofs - s.pos))
		s.pos = ofs
		return
	}
	sr := io.NewSectionReader(s.f, ofs, 1<<62)
	if s.br == nil {
		s.br = bufio.NewReaderSize(sr, scanBuf)
	} else {
		s.br.Reset(sr)
	}
	s.pos = ofs
}

func (s *scanner) read(n int) ([]byte, error) {
	b, err := s.br.Peek(n)
	if len(b) < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s.br.Discard(n)
	s.pos += int64(n)
	return b, nil
}

// initFile checks the header, rebuilds the index by scanning the blocks,
// and resizes the file to maxsize (ZEO 6.0 ClientCache._initfile).
func (c *Cache) initFile(fsize int64) error {
	bad := func(ofs int64, format string, a ...any) error {
		return &CorruptError{Path: c.path, Offset: ofs, Msg: fmt.Sprintf(format, a...)}
	}
	var hdr [HeaderSize]byte
	n, err := c.f.ReadAt(hdr[:], 0)
	if n >= 4 && string(hdr[:4]) != Magic || n < 4 {
		return bad(0, "unexpected magic number: %q", hdr[:min(n, 4)])
	}
	if n < HeaderSize {
		if err != nil && err != io.EOF {
			return fmt.Errorf("cache: reading %s: %w", c.path, err)
		}
		return bad(4, "cache file too small -- no tid at start")
	}
	c.tid = binary.BigEndian.Uint64(hdr[4:])
	c.current = map[uint64]int64{}
	c.noncur = map[uint64][]revision{}
	c.n = 0
	maxsize := c.maxsize
	var (
		ofs, last      int64 = HeaderSize, HeaderSize
		firstFree      int64
		lastFree       = true // status of the block at last (' ' for none)
		lastIndexed    bool
		lastOid        uint64
		lastStart      uint64
		lastWasCurrent bool
		sc             = &scanner{f: c.f}
	)
	for ofs < fsize {
		sc.seek(ofs)
		st, err := sc.read(1)
		if err != nil {
			return bad(ofs, "reading status byte: %v", err)
		}
		var size int64
		lastIndexed = false
		switch status := st[0]; status {
		case 'a':
			h, err := sc.read(30)
			if err != nil {
				return bad(ofs, "truncated record header: %v", err)
			}
			size = int64(binary.BigEndian.Uint32(h[0:4]))
			oid := binary.BigEndian.Uint64(h[4:12])
			start := binary.BigEndian.Uint64(h[12:20])
			end := binary.BigEndian.Uint64(h[20:28])
			vlen := binary.BigEndian.Uint16(h[28:30])
			if size < RecordOverhead {
				return bad(ofs, "allocated block of %d bytes", size)
			}
			if vlen != 0 {
				// ZODB >= 3.9 rejects files with versions too.
				return bad(ofs, "Versions aren't supported (version length %d)", vlen)
			}
			lastFree = false
			if ofs+size <= maxsize {
				if end == 0 {
					if old, dup := c.current[oid]; dup {
						// Python: AssertionError, cache discarded
						// (cache fault 1).  Keep the newer revision.
						oldStart, err := c.readStart(old)
						if err != nil {
							return err
						}
						if oldStart >= start {
							if err := c.writeFree(ofs, size); err != nil {
								return err
							}
							lastFree = true
							break
						}
						if err := c.writeFree(old, -1); err != nil {
							return err
						}
						c.n--
					}
					c.current[oid] = ofs
				} else {
					if start >= end {
						return bad(ofs, "non-current record of oid %016x with start tid %016x >= end tid %016x", oid, start, end)
					}
					if err := c.dropDisplaced(c.setNoncur(oid, start, ofs)); err != nil {
						return err
					}
				}
				c.n++
				lastIndexed, lastOid, lastStart, lastWasCurrent = true, oid, start, end == 0
			}
		case 'f':
			h, err := sc.read(4)
			if err != nil {
				return bad(ofs, "truncated free block header: %v", err)
			}
			size = int64(binary.BigEndian.Uint32(h))
			if size < 5 {
				return bad(ofs, "free block of %d bytes", size)
			}
			if size > MaxBlockSize && ofs+size <= maxsize {
				// Only transiently possible (a store's free header
				// before the record is in place); split as ZEO does.
				// A block running past the end is clamped below
				// instead (splitting it would extend the file).
				if err := c.writeFreeChain(ofs, ofs+size); err != nil {
					return err
				}
				c.sync()
				size = MaxBlockSize
			}
			lastFree = true
			if firstFree == 0 {
				firstFree = ofs
			}
		case '1', '2', '3', '4':
			size = int64(status - '0')
			lastFree = true
			if firstFree == 0 {
				firstFree = ofs
			}
		default:
			return bad(ofs, "unknown status byte value %#x in client cache file", status)
		}
		last = ofs
		ofs += size
		if ofs >= maxsize {
			if ofs > maxsize {
				// The last block crosses the new end (shrinking, or a
				// Python-grown file): it becomes free.
				if err := c.writeFreeChain(last, maxsize); err != nil {
					return err
				}
				c.sync()
				ofs = maxsize
				lastFree = true
			}
			break
		}
	}
	if fsize < maxsize {
		// New or growing.  Python asserts here that the scan ended
		// exactly at the old end and that the last block is free; we
		// cope instead (cache fault 3).
		from := fsize
		if ofs > fsize {
			// The last block runs past the old end of the file: drop it.
			if lastIndexed {
				c.unindex(lastOid, lastStart, lastWasCurrent)
			}
			from = last
			lastFree = true
		}
		if err := c.writeAt([]byte{'x'}, maxsize-1); err != nil {
			return err
		}
		if err := c.writeFreeChain(from, maxsize); err != nil {
			return err
		}
		c.sync()
		if lastFree {
			firstFree = last
		} else {
			firstFree = from
		}
	} else if fsize > maxsize {
		if err := c.f.Truncate(maxsize); err != nil {
			return fmt.Errorf("cache: truncating %s: %w", c.path, err)
		}
	}
	c.cur = firstFree
	if c.cur == 0 {
		c.cur = HeaderSize
	}
	return nil
}

// writeFreeChain covers [from, to) with free blocks of at most
// MaxBlockSize bytes, as ZEO covers a new file.
func (c *Cache) writeFreeChain(from, to int64) error {
	for p := from; p < to; p += MaxBlockSize {
		if err := c.writeAt(freeHeader(nil, min(MaxBlockSize, to-p)), p); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) unindex(oid, start uint64, current bool) {
	if current {
		delete(c.current, oid)
	} else {
		c.delNoncur(oid, start)
	}
	c.n--
}

func (c *Cache) readStart(ofs int64) (uint64, error) {
	var b [8]byte
	if _, err := c.f.ReadAt(b[:], ofs+13); err != nil {
		return 0, fmt.Errorf("cache: %s: reading at %d: %w", c.path, ofs+13, err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// writeFree turns the allocated block at ofs into a free block of the
// same size (size -1: read it from the block).
func (c *Cache) writeFree(ofs, size int64) error {
	if size < 0 {
		var b [5]byte
		if _, err := c.f.ReadAt(b[:], ofs); err != nil {
			return fmt.Errorf("cache: %s: reading at %d: %w", c.path, ofs, err)
		}
		size = int64(binary.BigEndian.Uint32(b[1:]))
	}
	return c.writeAt(freeHeader(nil, size), ofs)
}

func (c *Cache) writeAt(b []byte, ofs int64) error {
	if _, err := c.f.WriteAt(b, ofs); err != nil {
		return fmt.Errorf("cache: %s: writing at %d: %w", c.path, ofs, err)
	}
	return nil
}

// setNoncur indexes a non-current revision.  If another record of the
// same (oid, start) was indexed, it returns that record's offset: the
// caller frees it.  (Python overwrites the entry and leaves the other
// record allocated but unindexed; its len then counts both, and evicting
// the orphan deletes the live entry: cache fault 2.)
func (c *Cache) setNoncur(oid, start uint64, ofs int64) (displaced int64) {
	l := c.noncur[oid]
	i, found := slices.BinarySearchFunc(l, start, func(r revision, t uint64) int {
		switch {
		case r.start < t:
			return -1
		case r.start > t:
			return 1
		}
		return 0
	})
	if found {
		displaced, l[i].ofs = l[i].ofs, ofs
		return displaced
	}
	c.noncur[oid] = slices.Insert(l, i, revision{start, ofs})
	return 0
}

// dropDisplaced frees the block of a record displaced by setNoncur.
func (c *Cache) dropDisplaced(ofs int64) error {
	if ofs == 0 {
		return nil
	}
	c.n--
	return c.writeFree(ofs, -1)
}

func (c *Cache) delNoncur(oid, start uint64) bool {
	l := c.noncur[oid]
	for i, r := range l {
		if r.start == start {
			l = slices.Delete(l, i, i+1)
			if len(l) == 0 {
				delete(c.noncur, oid)
			} else {
				c.noncur[oid] = l
			}
			return true
		}
	}
	return false
}

// Path returns the cache file's path ("" for a temporary cache).
func (c *Cache) Path() string { return c.path }

// Len returns the number of object revisions in the cache.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Stats returns the counters since the cache was opened.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// LastTid returns the last tid the cache knows (0 if none).
func (c *Cache) LastTid() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tid
}

// Index is a snapshot of the in-memory index, for checks and tools.
type Index struct {
	Len        int
	CurrentOfs int64
	LastTid    uint64
	MaxSize    int64
	Current    map[uint64]int64
	Noncurrent map[uint64]map[uint64]int64
}

// Index returns a copy of the index.
func (c *Cache) Index() Index {
	c.mu.Lock()
	defer c.mu.Unlock()
	ix := Index{Len: c.n, CurrentOfs: c.cur, LastTid: c.tid, MaxSize: c.maxsize,
		Current: map[uint64]int64{}, Noncurrent: map[uint64]map[uint64]int64{}}
	for k, v := range c.current {
		ix.Current[k] = v
	}
	for k, l := range c.noncur {
		m := map[uint64]int64{}
		for _, r := range l {
			m[r.start] = r.ofs
		}
		ix.Noncurrent[k] = m
	}
	return ix
}
