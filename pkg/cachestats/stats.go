package cachestats

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace/tracecli"
)

// Options are the report options (ZEO 6.0 scripts/cache_stats.py's options).
type Options struct {
	Verbose   bool  // -v: one line per record
	Quiet     bool  // -q: no interval or restart lines
	Sizes     bool  // -s: size histograms
	NoStats   bool  // -S: no summary
	Histogram bool  // -h: load frequency histogram
	Interval  int64 // -i, in seconds (already clamped)
}

// ErrNoRecords is returned by Report when the trace holds no record.
//
//lint:ignore ST1005 ZEO 6.0 cache_stats.py prints this text exactly
var ErrNoRecords = errors.New("No records processed")

// names are cache_stats' explanations of the codes (its "explain" dict).
var names = map[byte]string{
	0x00: "_setup_trace (initialization)",
	0x10: "invalidate (miss)",
	0x1A: "invalidate (hit, version)",
	0x1C: "invalidate (hit, saving non-current)",
	0x1E: "invalidate (hit, discarding current or non-current)",
	0x20: "load (miss)",
	0x22: "load (hit)",
	0x24: "load (non-current, miss)",
	0x26: "load (non-current, hit)",
	0x50: "store (version)",
	0x52: "store (current, non-version)",
	0x54: "store (non-current)",
}

// loadCounts counts loads per oid (-h): a plain slice for the small,
// dense oids ZODB storages hand out, a map for the rest.
type loadCounts struct {
	dense  []uint32
	sparse map[uint64]uint32
}

const denseOids = 1 << 22

func (c *loadCounts) add(oid uint64) {
	if oid < denseOids {
		if oid >= uint64(len(c.dense)) {
			n := min(max(2*len(c.dense), int(oid)+1, 1024), denseOids)
			c.dense = append(c.dense, make([]uint32, n-len(c.dense))...)
		}
		c.dense[oid]++
		return
	}
	c.sparse[oid]++
}

// each calls fn with the load count of every oid loaded at least once.
func (c *loadCounts) each(fn func(uint32)) {
	for _, n := range c.dense {
		if n != 0 {
			fn(n)
		}
	}
	for _, n := range c.sparse {
		fn(n)
	}
}

// sizeTable is one size histogram (-s): per data size, the distinct oids
// and the number of records.  Only the set of (size, oid) pairs is kept;
// they are packed in one word when the oid fits in 41 bits (always, for
// real storages), else kept as a pair.
type sizeTable struct {
	packed map[uint64]struct{}
	pairs  map[sizeKey]struct{}
	by     map[uint32]*sizeAgg
}

type sizeKey struct {
	size uint32
	oid  uint64
}

type sizeAgg struct{ objs, n int64 }

func newSizeTable() *sizeTable {
	return &sizeTable{packed: map[uint64]struct{}{}, pairs: map[sizeKey]struct{}{}, by: map[uint32]*sizeAgg{}}
}

func (t *sizeTable) add(size uint32, oid uint64) {
	a := t.by[size]
	if a == nil {
		a = &sizeAgg{}
		t.by[size] = a
	}
	a.n++
	var seen bool
	if oid < 1<<41 {
		k := uint64(size)<<41 | oid // size < 2^23
		if _, seen = t.packed[k]; !seen {
			t.packed[k] = struct{}{}
		}
	} else {
		k := sizeKey{size, oid}
		if _, seen = t.pairs[k]; !seen {
			t.pairs[k] = struct{}{}
		}
	}
	if !seen {
		a.objs++
	}
}

// oidKeys maps oids to uint64 keys: 8-byte oids (all ZEO ever writes) are
// their own value; other lengths, found only in damaged traces, are
// interned and numbered down from 2^64-1, an oid no ZODB storage reaches.
type oidKeys struct {
	odd map[string]uint64
}

func (k *oidKeys) key(oid []byte) uint64 {
	if len(oid) == 8 {
		return binary.BigEndian.Uint64(oid)
	}
	if k.odd == nil {
		k.odd = map[string]uint64{}
	}
	v, ok := k.odd[string(oid)]
	if !ok {
		v = ^uint64(len(k.odd))
		k.odd[string(oid)] = v
	}
	return v
}

type report struct {
	opt Options
	out *bufio.Writer
	buf []byte

	records, versions, datarecs, datasize int64
	totalLoads                            int64
	bycode, byinterval                    [128]int64
	t0, te, h0, he, cur                   int64
	started                               bool

	keys   oidKeys
	oids   *loadCounts // -h only
	bysize *sizeTable  // -s only, loads
	bysizw *sizeTable  // -s only, writes

	ctimeTS  int64
	ctimeBuf []byte
}

// ctime returns the 24-byte ctime of ts, cached for runs of equal time
// stamps (the verbose path formats every record).
func (r *report) ctime(ts int64) []byte {
	if r.ctimeBuf == nil || ts != r.ctimeTS {
		r.ctimeBuf = tracecli.AppendCtime(r.ctimeBuf[:0], ts)
		r.ctimeTS = ts
	}
	return r.ctimeBuf
}

// Report reads the trace from in and writes cache_stats' report to out.
// It returns ErrNoRecords for an empty trace (after the header and the
// interval line, like Python) and other errors for unreadable input.
// Cancelling ctx stops reading and reports what was read, as Ctrl-C does
// in Python.
func Report(ctx context.Context, in io.Reader, out io.Writer, opt Options) error {
	if opt.Interval <= 0 {
		opt.Interval = 900
	}
	r := &report{opt: opt, out: bufio.NewWriterSize(out, 1<<20)}
	if opt.Histogram {
		r.oids = &loadCounts{sparse: map[uint64]uint32{}}
	}
	if opt.Sizes {
		r.bysize = newSizeTable()
		r.bysizw = newSizeTable()
	}
	err := r.run(ctx, in, time.Now())
	if ferr := r.out.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (r *report) run(ctx context.Context, in io.Reader, rt0 time.Time) error {
	r.out.WriteString("                   loads    hits  inv(h)  writes hitrate\n")
	rd := cachetrace.NewReader(in)
	var rec cachetrace.Record
	var readErr error
	done := ctx.Done()
	interrupted := false
	for n := 0; ; n++ {
		if done != nil && n&0xffff == 0 {
			select {
			case <-done:
				interrupted = true
			default:
			}
			if interrupted {
				break
			}
		}
		err := rd.Next(&rec)
		if err != nil {
			var me *cachetrace.MisalignedError
			if errors.As(err, &me) {
				if !r.opt.Quiet {
					r.buf = append(r.buf[:0], "Skipping 8 bytes at offset "...)
					r.buf = strconv.AppendInt(r.buf, me.Offset, 10)
					r.buf = append(r.buf, '\n')
					r.out.Write(r.buf)
				}
				continue
			}
			var te *cachetrace.TruncatedError
			if err != io.EOF && !errors.As(err, &te) {
				readErr = err
			}
			break
		}
		r.record(&rec)
	}
	if interrupted {
		r.out.WriteString("\nInterrupted.  Stats so far:\n\n")
	}
	if readErr != nil {
		return readErr
	}
	endPos := rd.Offset()
	elapsed := time.Since(rt0).Seconds()
	if !r.opt.Quiet {
		if r.started {
			r.dumpInterval()
		} else {
			// Python prints ctime(None), i.e. the current time.
			now := time.Now().Unix()
			r.h0, r.he = now, now
			r.dumpInterval()
		}
	}
	if r.records == 0 {
		return ErrNoRecords
	}
	if !r.opt.NoStats {
		r.summary(endPos, elapsed)
	}
	if r.opt.Histogram {
		r.histogram()
	}
	if r.opt.Sizes {
		r.out.WriteString("\nHistograms of object sizes\n\n")
		dumpBySize(r, r.bysizw, "written", "writes")
		dumpBySize(r, r.bysize, "loaded", "loads")
	}
	return nil
}

func (r *report) record(rec *cachetrace.Record) {
	ts := int64(rec.Time)
	iv := r.opt.Interval
	r.records++
	if !r.started {
		r.started = true
		r.t0, r.h0, r.he = ts, ts, ts
		r.cur = tracecli.FloorDiv(ts, iv)
	}
	r.te = ts
	if this := tracecli.FloorDiv(ts, iv); this != r.cur {
		if !r.opt.Quiet {
			r.dumpInterval()
		}
		r.byinterval = [128]int64{}
		r.cur = this
		r.h0 = ts
	}
	r.he = ts
	dlen := rec.Dlen
	if dlen != 0 {
		r.datarecs++
		r.datasize += int64(dlen)
	}
	flag := byte('-')
	if rec.Code&0x80 != 0 {
		flag = 'V'
		r.versions++
	}
	code := rec.Code & 0x7e
	r.bycode[code]++
	r.byinterval[code]++
	if dlen != 0 && (r.bysize != nil) {
		switch code & 0x70 {
		case 0x20:
			r.bysize.add(dlen, r.keys.key(rec.Oid))
		case 0x50:
			r.bysizw.add(dlen, r.keys.key(rec.Oid))
		}
	}
	if r.opt.Verbose {
		r.verbose(rec, ts, code, flag)
	}
	if code&0x70 == 0x20 {
		if r.oids != nil {
			r.oids.add(r.keys.key(rec.Oid))
		}
		r.totalLoads++
	} else if code == 0 {
		if !r.opt.Quiet {
			r.dumpInterval()
		}
		r.byinterval = [128]int64{}
		r.cur = tracecli.FloorDiv(ts, iv)
		r.h0, r.he = ts, ts
		if !r.opt.Quiet {
			b := append(r.buf[:0], r.ctime(ts)[4:19]...)
			b = append(b, " ==================== Restart ====================\n"...)
			r.buf = b
			r.out.Write(b)
		}
	}
}

const hexdigits = "0123456789abcdef"

// appendHex16 appends v as 16 hex digits, zero padded ("%016x") or space
// padded ("%16x").
func appendHex16(b []byte, v uint64, pad byte) []byte {
	var tmp [16]byte
	i := 16
	for {
		i--
		tmp[i] = hexdigits[v&15]
		v >>= 4
		if v == 0 {
			break
		}
	}
	for j := 0; j < i; j++ {
		tmp[j] = pad
	}
	return append(b, tmp[:]...)
}

func (r *report) verbose(rec *cachetrace.Record, ts int64, code, flag byte) {
	b := append(r.buf[:0], r.ctime(ts)[4:19]...)
	b = append(b, ' ', hexdigits[code>>4], hexdigits[code&15], ' ')
	if len(rec.Oid) == 8 {
		b = appendHex16(b, binary.BigEndian.Uint64(rec.Oid), ' ')
	} else {
		b = AppendPyBytesRepr(b, rec.Oid)
	}
	b = append(b, ' ')
	b = appendHex16(b, rec.Start, '0')
	b = append(b, ' ')
	b = appendHex16(b, rec.End, '0')
	b = append(b, ' ', flag)
	if rec.Dlen != 0 {
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(rec.Dlen), 10)
	}
	b = append(b, '\n')
	r.buf = b
	r.out.Write(b)
}

// AppendPyBytesRepr appends Python's repr() of a bytes object (b'...'),
// which cache_stats -v prints for oids that are not 8 bytes long.
func AppendPyBytesRepr(b, s []byte) []byte {
	q := byte('\'')
	if slices.Contains(s, '\'') && !slices.Contains(s, '"') {
		q = '"'
	}
	b = append(b, 'b', q)
	for _, c := range s {
		switch {
		case c == q || c == '\\':
			b = append(b, '\\', c)
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c < ' ' || c >= 0x7f:
			b = append(b, '\\', 'x', hexdigits[c>>4], hexdigits[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, q)
}

// dumpInterval prints one interval line (dumpbyinterval in Python).  Note
// that it classifies codes by single bits, unlike the summary's hit rate.
func (r *report) dumpInterval() {
	var loads, hits, invals, writes int64
	for code, n := range r.byinterval {
		if n == 0 {
			continue
		}
		switch {
		case code&0x20 != 0:
			loads += n
			if code == 0x22 || code == 0x26 {
				hits += n
			}
		case code&0x40 != 0:
			writes += n
		case code&0x10 != 0:
			if code != 0x10 {
				invals += n
			}
		}
	}
	b := append(r.buf[:0], r.ctime(r.h0)[4:16]...)
	b = append(b, '-')
	b = append(b, r.ctime(r.he)[14:16]...)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, loads, 7)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, hits, 7)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, invals, 7)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, writes, 7)
	b = append(b, ' ')
	if loads != 0 {
		b = append(b, ' ')
		b = tracecli.AppendPercent(b, 100.0*float64(hits)/float64(loads))
	} else {
		b = append(b, "    n/a"...)
	}
	b = append(b, '\n')
	r.buf = b
	r.out.Write(b)
}

func (r *report) summary(endPos int64, elapsed float64) {
	w := r.out
	c := tracecli.Commas
	fmt.Fprintf(w, "\nRead %s trace records (%s bytes) in %.1f seconds\n", c(r.records), c(endPos), elapsed)
	fmt.Fprintf(w, "Versions:   %s records used a version\n", c(r.versions))
	fmt.Fprintf(w, "First time: %s\n", tracecli.Ctime(r.t0))
	fmt.Fprintf(w, "Last time:  %s\n", tracecli.Ctime(r.te))
	fmt.Fprintf(w, "Duration:   %s seconds\n", c(r.te-r.t0))
	var avg int64
	if r.datarecs != 0 {
		// Python: "%d" % (datasize / datarecords), float division then
		// truncation.  Without data records Python divides by zero.
		avg = int64(float64(r.datasize) / float64(r.datarecs))
	}
	fmt.Fprintf(w, "Data recs:  %s (%.1f%%), average size %d bytes\n", c(r.datarecs), 100.0*float64(r.datarecs)/float64(r.records), avg)
	var loads, hits int64
	for code, n := range r.bycode {
		if code&0x70 == 0x20 {
			loads += n
			if code == 0x22 || code == 0x26 {
				hits += n
			}
		}
	}
	hr := 0.0
	if loads != 0 {
		hr = 100.0 * float64(hits) / float64(loads)
	}
	fmt.Fprintf(w, "Hit rate:   %.1f%% (load hits / loads)\n", hr)
	fmt.Fprintf(w, "\n%13s %4s %s\n", "Count", "Code", "Function (action)")
	for code, n := range r.bycode {
		if n == 0 {
			continue
		}
		name, ok := names[byte(code)]
		if !ok {
			name = "*** unknown code ***"
		}
		fmt.Fprintf(w, "%13s  %02x  %s\n", c(n), code, name)
	}
}

func (r *report) histogram() {
	w := r.out
	bins := map[uint32]int64{}
	r.oids.each(func(n uint32) { bins[n]++ })
	var total int64
	for _, k := range bins {
		total += k
	}
	fmt.Fprintf(w, "\nHistogram of object load frequency\n")
	fmt.Fprintf(w, "Unique oids: %s\n", tracecli.Commas(total))
	fmt.Fprintf(w, "Total loads: %s\n", tracecli.Commas(r.totalLoads))
	width := max(len(tracecli.Commas(total)), len("objects"))
	fmt.Fprintf(w, "%5s %*s %6s %6s %6s\n", "loads", width, "objects", "%obj", "%load", "%cum")
	keys := make([]uint32, 0, len(bins))
	for k := range bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	cum := 0.0
	for _, n := range keys {
		count := bins[n]
		objPct := 100.0 * float64(count) / float64(total)
		loadPct := 100.0 * float64(count) * float64(n) / float64(r.totalLoads)
		cum += loadPct
		fmt.Fprintf(w, "%5d %*s %5.1f%% %5.1f%% %5.1f%%\n", n, width, tracecli.Commas(count), objPct, loadPct, cum)
	}
}

func dumpBySize(r *report, t *sizeTable, how, how2 string) {
	sizes := make([]uint32, 0, len(t.by))
	for s := range t.by {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	w := r.out
	fmt.Fprintf(w, "\nUnique sizes %s: %s\n", how, tracecli.Commas(int64(len(t.by))))
	fmt.Fprintf(w, "%10s %6s %6s\n", "size", "objs", how2)
	for _, s := range sizes {
		a := t.by[s]
		fmt.Fprintf(w, "%10s %6d %6d\n", tracecli.Commas(int64(s)), a.objs, a.n)
	}
}
