package cachetrace

import (
	"bufio"
	"encoding/binary"
	"io"
	"math/rand/v2"
)

// Generate writes n records of a synthetic trace shaped like a ZEO 5/6
// client's (ZEO 6.0 ClientStorage with ZEO_CACHE_TRACE): Zipf-popular oids, a hit as 0x22, a miss as
// 0x20 + 0x24 followed by the 0x52 store of the loaded object,
// invalidations (0x1c for cached objects, 0x10 otherwise) with rising
// tids, and a restart (0x00) every million records.  Time advances one
// second every 40 records from 1700000000.  It exists for benchmarks and
// tests of the trace tools on traces far larger than the fixtures; the
// same seed gives the same bytes.
func Generate(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const objects = 2_000_000
	zipf := rand.NewZipf(rng, 1.1, 4, objects-1)
	cached := make([]uint32, objects) // data length+1 of the cached current revision, 0 if not cached
	tid := uint64(0x03f0000000000000)
	var oidb [8]byte
	var rec Record
	var buf []byte
	emit := func(i int, code byte, dlen uint32, oid uint64, start, end uint64) error {
		rec.Time = int32(1700000000 + i/40)
		rec.Code, rec.Dlen, rec.Start, rec.End = code, dlen, start, end
		if code == CodeRestart {
			rec.Oid = nil
		} else {
			binary.BigEndian.PutUint64(oidb[:], oid)
			rec.Oid = oidb[:]
		}
		buf = AppendRecord(buf[:0], &rec)
		_, err := bw.Write(buf)
		return err
	}
	for i := 0; i < n; {
		var err error
		oid := zipf.Uint64()
		switch {
		case i%1_000_000 == 0:
			err = emit(i, CodeRestart, 0, 0, 0, 0)
			i++
		case rng.IntN(20) == 0:
			tid += 1 + uint64(rng.IntN(1000))
			if cached[oid] != 0 {
				err = emit(i, CodeInvalidateHit, 0, oid, tid, 0)
				cached[oid] = 0
			} else {
				err = emit(i, CodeInvalidateMiss, 0, oid, tid, 0)
			}
			i++
		case cached[oid] != 0:
			err = emit(i, CodeLoadHit, cached[oid]-1, oid, tid-uint64(oid%7), 0)
			i++
		default:
			dlen := uint32(64 + rng.IntN(2000))
			if err = emit(i, CodeLoadMiss, 0, oid, 0, 0); err == nil {
				if err = emit(i+1, CodeLoadNoncurMiss, 0, oid, 0, tid+1); err == nil {
					err = emit(i+2, CodeStoreCurrent, dlen, oid, tid-uint64(oid%7), 0)
				}
			}
			cached[oid] = dlen + 1
			i += 3
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
