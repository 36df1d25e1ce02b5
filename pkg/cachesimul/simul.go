package cachesimul

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"strconv"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace/tracecli"
)

// Options are the simulation parameters (ZEO 6.0 scripts/cache_simul.py's options).
type Options struct {
	// Size is the simulated cache file size in bytes (header included).
	Size int64
	// Interval is the reporting interval in seconds (already clamped).
	Interval int64
	// Rearrange is the factor of the size beyond which a hit record is
	// moved to the ring pointer (ZEO's default 0.8).
	Rearrange float64
}

// MinSize is the smallest simulated size: Python fails on anything up to
// the 12-byte header (AssertionError or ZeroDivisionError in report).
const MinSize = headerSize + 1

// ErrSize is returned for a cache size of MinSize or less.
var ErrSize = errors.New("cache size must be more than 12 bytes")

// run is one of Python's two Simulation objects: counters since its last
// restart, the first and last time stamps, and warm.
type run struct {
	base     counters
	ts0, ts1 int64
	has0     bool
	has1     bool
	warm     bool
}

func (r *run) event(ts int64) {
	if !r.has0 {
		r.ts0, r.has0 = ts, true
	}
	r.ts1, r.has1 = ts, true
}

func (r *run) restart(tot counters) {
	if tot.evicts-r.base.evicts > 0 {
		r.warm = true
	}
	r.base = tot
	r.has0 = false
}

type simulation struct {
	c    *cache
	out  *bufio.Writer
	buf  []byte
	keys oidKeys
}

// report prints the line of run r (Simulation.report).  Python crashes
// with a TypeError when the run saw events but none since its last
// restart; that line is left out.
func (s *simulation) report(r *run) {
	if !r.has1 || !r.has0 {
		return
	}
	n := s.c.tot.sub(r.base)
	b := s.buf[:0]
	b = tracecli.AppendCtime(b, r.ts0)
	ct := string(b[4:16])
	b = tracecli.AppendPad(b[:0], []byte(ct), 12)
	b = append(b, ' ')
	b = tracecli.AppendPad(b, appendDuration(nil, r.ts1-r.ts0), 6)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, n.loads, 7)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, n.hits, 7)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, n.invals, 6)
	b = append(b, ' ')
	b = tracecli.AppendInt(b, n.writes, 6)
	b = append(b, ' ')
	if n.loads < 1 {
		b = append(b, "    n/a"...)
	} else {
		b = append(b, ' ')
		b = tracecli.AppendPercent(b, 100.0*float64(n.hits)/float64(n.loads))
	}
	b = append(b, ' ')
	b = tracecli.AppendInt(b, n.evicts, 7)
	b = append(b, ' ')
	inuse := 100.0 * float64(s.c.used) / float64(s.c.limit-headerSize)
	b = tracecli.AppendPad(b, strconv.AppendFloat(nil, inuse, 'f', 1, 64), 7)
	b = append(b, '\n')
	s.buf = b
	s.out.Write(b)
}

// appendDuration is cache_simul's duration(): H:MM:SS, M:SS or seconds,
// with Python's floor divmod (negative for time stamps going backwards).
func appendDuration(b []byte, secs int64) []byte {
	mm, ss := floorDivmod(secs, 60)
	hh, mm := floorDivmod(mm, 60)
	two := func(b []byte, v int64) []byte {
		if v < 10 {
			b = append(b, '0')
		}
		return strconv.AppendInt(b, v, 10)
	}
	switch {
	case hh != 0:
		b = strconv.AppendInt(b, hh, 10)
		b = append(b, ':')
		b = two(b, mm)
		b = append(b, ':')
		return two(b, ss)
	case mm != 0:
		b = strconv.AppendInt(b, mm, 10)
		b = append(b, ':')
		return two(b, ss)
	}
	return strconv.AppendInt(b, ss, 10)
}

func floorDivmod(a, b int64) (int64, int64) {
	q := tracecli.FloorDiv(a, b)
	return q, a - q*b
}

// oidKeys maps oids to uint64 keys: 8-byte oids are their own value;
// other lengths (damaged traces only) are numbered down from 2^64-1.
type oidKeys struct{ odd map[string]uint64 }

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

// Simulate reads the trace from in and writes cache_simul's report to out.
func Simulate(in io.Reader, out io.Writer, opt Options) error {
	if opt.Size <= headerSize {
		return ErrSize
	}
	if opt.Interval <= 0 {
		opt.Interval = 900
	}
	s := &simulation{c: newCache(opt.Size, opt.Rearrange), out: bufio.NewWriterSize(out, 1<<16)}
	err := s.run(in, opt)
	if ferr := s.out.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (s *simulation) run(in io.Reader, opt Options) error {
	s.buf = append(s.buf[:0], "CircularCacheSimulation, cache size "...)
	s.buf = tracecli.AppendCommas(s.buf, opt.Size)
	s.buf = append(s.buf, " bytes\n"...)
	s.out.Write(s.buf)
	s.out.WriteString("  START TIME   DUR.   LOADS    HITS INVALS WRITES HITRATE  EVICTS   INUSE\n")

	var whole, iv run
	rd := cachetrace.NewReader(in)
	var rec cachetrace.Record
	var last int64
	haveLast := false
	c := s.c
	for {
		err := rd.Next(&rec)
		if err != nil {
			var me *cachetrace.MisalignedError
			if errors.As(err, &me) {
				continue
			}
			var te *cachetrace.TruncatedError
			if err == io.EOF || errors.As(err, &te) {
				break
			}
			return err
		}
		ts := int64(rec.Time)
		this := tracecli.FloorDiv(ts, opt.Interval)
		if !haveLast || this != last {
			if haveLast {
				s.report(&iv)
				iv.restart(c.tot)
				if !iv.warm {
					whole.restart(c.tot)
				}
			}
			last, haveLast = this, true
		}
		whole.event(ts)
		iv.event(ts)
		code := rec.Code & 0x7e
		var oid uint64
		if len(rec.Oid) == 8 {
			oid = binary.BigEndian.Uint64(rec.Oid)
		} else {
			oid = s.keys.key(rec.Oid)
		}
		if c.event(rec.Dlen, code, oid, rec.Start, rec.End) {
			whole.restart(c.tot)
			iv.restart(c.tot)
		}
	}
	s.report(&iv)
	s.out.WriteString("--------------------------------------------------------------------------\n")
	s.report(&whole)
	return nil
}
