package zodbconvert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/pgsandbox"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

func TestMain(m *testing.M) { os.Exit(pgsandbox.Main(m)) }

// copyOf copies a fixture into a temporary directory (the conversion
// opens it read-only, but FileStorage writes its index beside it).
func copyOf(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(t *testing.T, text string) *zconfig.Node {
	t.Helper()
	n, err := Schema.Load(strings.NewReader(text), "zodbconvert.conf")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func relstorage(name, dsn string, hp bool) string {
	return fmt.Sprintf("<relstorage %s>\n keep-history %v\n <postgresql>\n  dsn %s\n </postgresql>\n</relstorage>\n", name, hp, dsn)
}

// transactions lists a storage's transactions with their records, the
// data of backpointers resolved.
func transactions(t *testing.T, s storage.Storage) []storage.TxnRecord {
	t.Helper()
	var out []storage.TxnRecord
	err := s.(storage.Iterator).Iterate(0, 0, func(r storage.TxnRecord) bool {
		for i, d := range r.Records {
			if d.Data == nil && d.DataTxn != 0 {
				data, err := s.LoadSerial(d.OID, d.DataTxn)
				if err != nil {
					t.Fatal(err)
				}
				r.Records[i].Data, r.Records[i].DataTxn = data, 0
			}
		}
		// PostgreSQL lists a transaction's records by oid.
		sort.Slice(r.Records, func(i, j int) bool { return r.Records[i].OID < r.Records[j].OID })
		out = append(out, r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameHistory(t *testing.T, a, b []storage.TxnRecord) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d transactions, want %d", len(b), len(a))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.TID != y.TID || !bytes.Equal(x.User, y.User) || !bytes.Equal(x.Description, y.Description) ||
			len(x.Extension) != len(y.Extension) || len(x.Records) != len(y.Records) {
			t.Fatalf("transaction %d: %s %q %q ext %d recs %d, want %s %q %q ext %d recs %d", i,
				y.TID, y.User, y.Description, len(y.Extension), len(y.Records), x.TID, x.User, x.Description, len(x.Extension), len(x.Records))
		}
		for j := range x.Records {
			if x.Records[j].OID != y.Records[j].OID || !bytes.Equal(x.Records[j].Data, y.Records[j].Data) {
				t.Fatalf("transaction %s record %d: %s %d bytes, want %s %d bytes", x.TID, j,
					y.Records[j].OID, len(y.Records[j].Data), x.Records[j].OID, len(x.Records[j].Data))
			}
		}
	}
}

// A Data.fs (with undo backpointers) into PostgreSQL and back out into a
// new Data.fs: the same transactions, tids, metadata and states.
func TestRoundTrip(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	src := copyOf(t, "undo.fs")
	var out bytes.Buffer
	cfg := config(t, "%import relstorage\n<filestorage source>\n path "+src+"\n</filestorage>\n"+relstorage("destination", dsn, true))
	if err := Run(context.Background(), cfg, Options{Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "copied successfully") {
		t.Fatalf("output %q", out.String())
	}
	back := filepath.Join(t.TempDir(), "back.fs")
	cfg = config(t, "%import relstorage\n"+relstorage("source", dsn, true)+"<filestorage destination>\n path "+back+"\n</filestorage>\n")
	if err := Run(context.Background(), cfg, Options{Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	a, err := fsstorage.Open(src, filestorage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := fsstorage.Open(back, filestorage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sameHistory(t, transactions(t, a), transactions(t, b))
}

// A second run refuses a non-empty destination; --incremental adds
// nothing new; --clear empties and copies again; --dry-run changes
// nothing.
func TestModes(t *testing.T) {
	dsn := pgsandbox.NewDatabase(t)
	src := copyOf(t, "undo.fs")
	cfg := config(t, "%import relstorage\n<filestorage source>\n path "+src+"\n</filestorage>\n"+relstorage("destination", dsn, true))
	ctx := context.Background()
	if err := Run(ctx, cfg, Options{Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if err := Run(ctx, cfg, Options{Out: io.Discard}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("second run: %v, want ErrNotEmpty", err)
	}
	var out bytes.Buffer
	if err := Run(ctx, cfg, Options{Out: &out, Incremental: true}); err != nil || !strings.Contains(out.String(), "All 0 transactions") {
		t.Fatalf("incremental: %v %q", err, out.String())
	}
	out.Reset()
	if err := Run(ctx, cfg, Options{Out: &out, Clear: true, DryRun: true}); err != nil || !strings.Contains(out.String(), "Dry run") {
		t.Fatalf("dry run: %v %q", err, out.String())
	}
	if err := Run(ctx, cfg, Options{Out: io.Discard, Clear: true}); err != nil {
		t.Fatalf("clear: %v", err)
	}
	fsCfg := config(t, "%import relstorage\n"+relstorage("source", dsn, true)+"<filestorage destination>\n path "+src+"\n</filestorage>\n")
	if err := Run(ctx, fsCfg, Options{Out: io.Discard, Clear: true}); !errors.Is(err, ErrCannotClear) {
		t.Fatalf("--clear of a filestorage: %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"zodbconvert"}, &out, &errb); code != 2 {
		t.Fatalf("no arguments: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"zodbconvert", "--clear", "--incremental", "x.conf"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "exclude") {
		t.Fatalf("--clear --incremental: exit %d, %q", code, errb.String())
	}
	conf := filepath.Join(t.TempDir(), "c.conf")
	os.WriteFile(conf, []byte("<mappingstorage source>\n</mappingstorage>\n<mappingstorage destination>\n</mappingstorage>\n"), 0o644)
	errb.Reset()
	if code := Main([]string{"zodbconvert", conf}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not supported by zodbconvert") {
		t.Fatalf("mappingstorage: exit %d, %q", code, errb.String())
	}
}

// BenchmarkFileStorageToPostgreSQL converts big.fs (history-free
// destination) and reports objects per second.
func BenchmarkFileStorageToPostgreSQL(b *testing.B) {
	src := filepath.Join(b.TempDir(), "big.fs")
	data, err := os.ReadFile("testdata/big.fs")
	if err != nil {
		b.Fatal(err)
	}
	os.WriteFile(src, data, 0o644)
	for i := 0; i < b.N; i++ {
		dsn := pgsandbox.NewDatabase(b)
		cfg, err := Schema.Load(strings.NewReader("%import relstorage\n<filestorage source>\n path "+src+"\n</filestorage>\n"+relstorage("destination", dsn, false)), "c")
		if err != nil {
			b.Fatal(err)
		}
		var out bytes.Buffer
		if err := Run(context.Background(), cfg, Options{Out: &out}); err != nil {
			b.Fatal(err)
		}
		b.Log(strings.TrimSpace(out.String()))
	}
}

// blobRecord is a ZODB.blob.Blob record (class pickle, state None).
var blobRecord = []byte("\x80\x03cZODB.blob\nBlob\nq\x00.\x80\x03N.")

// Blobs go along: a Data.fs with a blob directory into PostgreSQL (large
// objects) and back into a new Data.fs and blob directory.
func TestBlobsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src, srcBlobs := filepath.Join(dir, "src.fs"), filepath.Join(dir, "src-blobs")
	fs, err := fsstorage.OpenWithBlobs(src, srcBlobs, filestorage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tids []tid.TID
	for i, content := range []string{"first blob", "second blob"} {
		tx, err := fs.Begin(storage.TxnMeta{Description: []byte("blob " + content)})
		if err != nil {
			t.Fatal(err)
		}
		up := filepath.Join(fs.TemporaryDirectory(), fmt.Sprintf("up%d.tmp", i))
		os.WriteFile(up, []byte(content), 0o600)
		var prev tid.TID
		if i > 0 {
			prev = tids[i-1]
		}
		if err := tx.(storage.BlobTransaction).StoreBlob(5, prev, blobRecord, up); err != nil {
			t.Fatal(err)
		}
		if err := tx.Vote(); err != nil {
			t.Fatal(err)
		}
		n, err := tx.Finish()
		if err != nil {
			t.Fatal(err)
		}
		tids = append(tids, n)
	}
	fs.Close()

	dsn := pgsandbox.NewDatabase(t)
	pg := fmt.Sprintf("<relstorage %%s>\n blob-dir %s\n <postgresql>\n  dsn %s\n </postgresql>\n</relstorage>\n", filepath.Join(dir, "pg-cache"), dsn)
	cfg := config(t, "%import relstorage\n<filestorage source>\n path "+src+"\n blob-dir "+srcBlobs+"\n</filestorage>\n"+fmt.Sprintf(pg, "destination"))
	if err := Run(context.Background(), cfg, Options{Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	back, backBlobs := filepath.Join(dir, "back.fs"), filepath.Join(dir, "back-blobs")
	cfg = config(t, "%import relstorage\n"+fmt.Sprintf(pg, "source")+"<filestorage destination>\n path "+back+"\n blob-dir "+backBlobs+"\n</filestorage>\n")
	if err := Run(context.Background(), cfg, Options{Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	b, err := fsstorage.OpenWithBlobs(back, backBlobs, filestorage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i, want := range []string{"first blob", "second blob"} {
		p, err := b.LoadBlob(5, tids[i])
		if err != nil {
			t.Fatalf("blob of revision %d: %v", i, err)
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != want {
			t.Fatalf("blob of revision %d = %q %v, want %q", i, got, err, want)
		}
	}
}
