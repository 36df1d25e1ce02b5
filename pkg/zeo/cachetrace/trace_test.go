package cachetrace

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func readAll(t *testing.T, r io.Reader) (recs []Record, mis []int64, n int64, tail error) {
	t.Helper()
	rd := NewReader(r)
	for {
		var rec Record
		err := rd.Next(&rec)
		var me *MisalignedError
		switch {
		case err == nil:
			rec.Oid = append([]byte(nil), rec.Oid...)
			recs = append(recs, rec)
			continue
		case errors.As(err, &me):
			mis = append(mis, me.Offset)
			continue
		case err == io.EOF:
		default:
			tail = err
		}
		return recs, mis, rd.Offset(), tail
	}
}

func TestFixtureTrace(t *testing.T) {
	data, err := os.ReadFile("testdata/fixture-1.zec.trace")
	if err != nil {
		t.Fatal(err)
	}
	recs, mis, n, tail := readAll(t, bytes.NewReader(data))
	if len(recs) != 6721 || len(mis) != 0 || tail != nil || n != int64(len(data)) {
		t.Fatalf("got %d records, %d skips, tail %v, %d bytes", len(recs), len(mis), tail, n)
	}
	// README: restart records are numbers 0, 3464 and 5762.
	var restarts []int
	var out bytes.Buffer
	w := NewWriter(&out)
	for i := range recs {
		if recs[i].Code == CodeRestart {
			restarts = append(restarts, i)
		}
		if err := w.Write(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(restarts) != 3 || restarts[0] != 0 || restarts[1] != 3464 || restarts[2] != 5762 {
		t.Errorf("restarts at %v", restarts)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Error("re-encoding differs from the fixture")
	}
	r := recs[6]
	if oid, ok := r.Oid8(); !ok || oid != 0 || r.Code != CodeStoreCurrent || r.Dlen != 64 || r.Start != 0x040d3f365bc833cc {
		t.Errorf("record 6 = %+v", r)
	}
}

func TestOpenGzipAndStdin(t *testing.T) {
	plain, _ := os.ReadFile("testdata/fixture-1.zec.trace")
	for _, name := range []string{"testdata/fixture-1.zec.trace.gz", "testdata/fixture-1.zec.trace"} {
		f, err := Open(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, n, tail := readAll(t, f)
		f.Close()
		if len(recs) != 6721 || tail != nil || n != int64(len(plain)) {
			t.Errorf("%s: %d records, %v, %d bytes", name, len(recs), tail, n)
		}
	}
	gz, _ := os.ReadFile("testdata/fixture-1.zec.trace.gz")
	f, err := Open("-", bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	recs, _, _, _ := readAll(t, f)
	if len(recs) != 6721 {
		t.Errorf("gzipped stdin: %d records", len(recs))
	}
	bad := filepath.Join(t.TempDir(), "x.gz")
	os.WriteFile(bad, plain[:100], 0o644)
	if _, err := Open(bad, nil); !errors.Is(err, ErrNotGzip) {
		t.Errorf("plain .gz: %v", err)
	}
	if _, err := Open(t.TempDir(), nil); !errors.Is(err, ErrIsDir) {
		t.Errorf("directory: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestMisaligned(t *testing.T) {
	f, err := os.Open("testdata/misaligned.trace")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, mis, n, tail := readAll(t, f)
	// README: 20 records, 8 NUL bytes, then records 20..60.
	if len(recs) != 61 || len(mis) != 1 || mis[0] != 672 || tail != nil || n != 2074 {
		t.Fatalf("%d records, skips %v, tail %v, %d bytes", len(recs), mis, tail, n)
	}
}

func TestTruncated(t *testing.T) {
	data, err := os.ReadFile("testdata/tiny.zec.trace")
	if err != nil {
		t.Fatal(err)
	}
	// The restart record (26 bytes), three 34-byte records, then `cut`
	// bytes of the fifth record.
	for _, cut := range []int{1, 10, 26, 30} {
		in := data[:26+34*3+cut]
		recs, _, n, tail := readAll(t, bytes.NewReader(in))
		var te *TruncatedError
		if !errors.As(tail, &te) || len(recs) != 4 || n != int64(len(in)) || te.Offset != 26+34*3 || te.Got != cut {
			t.Errorf("cut %d: %d records, %v, %d", cut, len(recs), tail, n)
		}
	}
}

func TestWriterSaturatesDlen(t *testing.T) {
	var b bytes.Buffer
	rec := Record{Time: 1700000000, Dlen: 9 << 20, Code: CodeStoreCurrent, Oid: make([]byte, 8)}
	NewWriter(&b).Write(&rec)
	var got Record
	if err := NewReader(&b).Next(&got); err != nil || got.Dlen != MaxDlen || got.Code != CodeStoreCurrent {
		t.Errorf("%v %+v", err, got)
	}
	if err := NewWriter(io.Discard).Write(&Record{Time: 1, Oid: make([]byte, 70000)}); err == nil {
		t.Error("long oid accepted")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestReadError(t *testing.T) {
	var rec Record
	err := NewReader(io.MultiReader(bytes.NewReader(make([]byte, 5)), errReader{})).Next(&rec)
	var te *TruncatedError
	if err == nil || errors.As(err, &te) || err == io.EOF {
		t.Errorf("got %v", err)
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"tiny.zec.trace", "misaligned.trace", "only-restart.trace"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data))
		var out []byte
		for {
			var rec Record
			err := rd.Next(&rec)
			var me *MisalignedError
			if errors.As(err, &me) {
				continue
			}
			if err != nil {
				break
			}
			if rec.Time == 0 {
				t.Fatal("zero time stamp returned")
			}
			out = AppendRecord(out, &rec)
		}
		if rd.Offset() != int64(len(data)) {
			t.Fatalf("consumed %d of %d bytes", rd.Offset(), len(data))
		}
		// Re-reading our own encoding gives the same records.
		rd2 := NewReader(bytes.NewReader(out))
		var n int
		for {
			var rec Record
			if err := rd2.Next(&rec); err != nil {
				if err != io.EOF {
					t.Fatalf("re-read: %v", err)
				}
				break
			}
			n += rec.Size()
		}
		if n != len(out) {
			t.Fatalf("re-read %d of %d bytes", n, len(out))
		}
	})
}

func TestGenerate(t *testing.T) {
	var a, b bytes.Buffer
	if err := Generate(&a, 10000, 7); err != nil {
		t.Fatal(err)
	}
	Generate(&b, 10000, 7)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different bytes")
	}
	recs, mis, n, tail := readAll(t, bytes.NewReader(a.Bytes()))
	// The last miss triple may run past n.
	if len(recs) < 10000 || len(recs) > 10002 || len(mis) != 0 || tail != nil || n != int64(a.Len()) {
		t.Fatalf("%d records, %d skips, %v", len(recs), len(mis), tail)
	}
	codes := map[byte]int{}
	for _, r := range recs {
		codes[r.Code]++
	}
	for _, c := range []byte{CodeRestart, CodeInvalidateMiss, CodeInvalidateHit, CodeLoadMiss, CodeLoadHit, CodeLoadNoncurMiss, CodeStoreCurrent} {
		if codes[c] == 0 {
			t.Errorf("no record with code %02x", c)
		}
	}
	if codes[CodeLoadMiss] != codes[CodeStoreCurrent] || codes[CodeLoadMiss] != codes[CodeLoadNoncurMiss] {
		t.Errorf("miss/store counts %v", codes)
	}
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	Generate(&buf, 1_000_000, 1)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var recs int
	for i := 0; i < b.N; i++ {
		rd := NewReader(bytes.NewReader(data))
		var rec Record
		for rd.Next(&rec) == nil {
			recs++
		}
	}
	b.ReportMetric(float64(recs)/b.Elapsed().Seconds(), "records/s")
}
