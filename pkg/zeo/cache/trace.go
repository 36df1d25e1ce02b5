package cache

import (
	"bufio"
	"encoding/binary"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/zdkit/zdkit/pkg/logging"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

// tracer appends records to "<cache>.trace" (ClientCache._setup_trace).
// Like Python's default-buffered file it reaches the disk in chunks and at
// Close; a killed process can leave a partial record, which the readers
// ignore.
type tracer struct {
	f   *os.File
	w   *bufio.Writer
	now func() time.Time
	buf []byte
}

func openTrace(name string, now func() time.Time, log *zerolog.Logger) *tracer {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		// ZEO only warns and runs untraced.
		if ev := logAt(log, logging.LevelWarning); ev != nil {
			ev.Msgf("cannot write tracefile %s (%v)", pyrepr.Str(name), err)
		}
		return nil
	}
	if ev := logAt(log, logging.LevelInfo); ev != nil {
		ev.Msgf("opened tracefile %s", pyrepr.Str(name))
	}
	if now == nil {
		now = time.Now
	}
	t := &tracer{f: f, w: bufio.NewWriterSize(f, 8192), now: now}
	t.record(cachetrace.CodeRestart, nil, 0, 0, 0)
	return t
}

// record writes one trace record.  oid nil is the empty oid of the
// restart record.  The time stamp is written modulo 2^32 (Python raises
// after 2038; readers take the field as signed).
func (t *tracer) record(code byte, oid *uint64, start, end uint64, dlen int) {
	if t == nil {
		return
	}
	var rec cachetrace.Record
	rec.Time = int32(uint32(t.now().Unix()))
	rec.Code = code
	rec.Start, rec.End = start, end
	if dlen > cachetrace.MaxDlen {
		dlen = cachetrace.MaxDlen
	}
	rec.Dlen = uint32(dlen)
	var ob [8]byte
	if oid != nil {
		binary.BigEndian.PutUint64(ob[:], *oid)
		rec.Oid = ob[:]
	}
	t.buf = cachetrace.AppendRecord(t.buf[:0], &rec)
	t.w.Write(t.buf)
}

func (t *tracer) close() error {
	if t == nil {
		return nil
	}
	err := t.w.Flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	return err
}
