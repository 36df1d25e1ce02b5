package zodbconvert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/pgstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

const usage = `Usage: %s [options] config_file

ZODB storage conversion utility.

Options:
  --dry-run      Attempt to open both storages, then explain what would be done.
  --clear        Clear the contents of the destination storage before copying.
  --incremental  Assume the destination contains a partial copy of the source
                 and resume copying from the last transaction.
  -h, --help     Show this help.
`

// Schema: storage sections, two of them named source and destination
// (RelStorage's zodbconvert schema).
var Schema = &zconfig.Schema{
	Name: "zodbconvert",
	Root: &zconfig.SectionType{Sections: []zconfig.Slot{
		{Types: zconfig.StorageTypes, Abstract: zconfig.StorageAbstract, Names: zconfig.NameRequired, Multi: true, Required: true},
	}},
}

// Errors.
var (
	ErrNotEmpty    = errors.New("the destination already holds transactions; use --clear to empty it or --incremental to add the newer ones")
	ErrCannotClear = errors.New("--clear empties only a <relstorage> destination")
)

// Main runs zodbconvert and returns its exit status.
func Main(argv []string, stdout, stderr io.Writer) int {
	prog := filepath.Base(argv[0])
	p := &getopt.Parser{Options: []getopt.Option{
		{Name: "dry-run", Long: "dry-run"},
		{Name: "clear", Long: "clear"},
		{Name: "incremental", Long: "incremental"},
		{Name: "help", Short: 'h', Long: "help", Stop: true},
	}}
	res, err := p.Parse(argv[1:])
	if err != nil {
		return usageErr(stderr, prog, err)
	}
	if res.Stopped != "" {
		fmt.Fprintf(stdout, usage, prog)
		return 0
	}
	if len(res.Args) != 1 {
		return usageErr(stderr, prog, getopt.Usagef("one configuration file is required"))
	}
	if res.Given("clear") && res.Given("incremental") {
		return usageErr(stderr, prog, getopt.Usagef("--clear and --incremental exclude each other"))
	}
	cfg, err := Schema.LoadFile(res.Args[0])
	if err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 2
	}
	opts := Options{DryRun: res.Given("dry-run"), Clear: res.Given("clear"), Incremental: res.Given("incremental"), Out: stdout}
	if err := Run(context.Background(), cfg, opts); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func usageErr(w io.Writer, prog string, err error) int {
	var ue *getopt.UsageError
	if errors.As(err, &ue) {
		ue.Report(w, prog)
	} else {
		fmt.Fprintf(w, "Error: %v\n", err)
	}
	return 2
}

// Options of a conversion.
type Options struct {
	DryRun, Clear, Incremental bool
	Out                        io.Writer // progress and the summary
	// Every is how often progress is reported (default 1 s).
	Every time.Duration
}

// Run converts as configured.
func Run(ctx context.Context, cfg *zconfig.Node, opts Options) error {
	var srcNode, dstNode *zconfig.Node
	for _, st := range cfg.Storages() {
		switch st.Name {
		case "source":
			srcNode = st
		case "destination":
			dstNode = st
		default:
			return fmt.Errorf("%s: storage section %q: only \"source\" and \"destination\" are used", st.Pos, st.Name)
		}
	}
	if srcNode == nil || dstNode == nil {
		return errors.New("the configuration needs a storage section named source and one named destination")
	}
	src, err := open(ctx, srcNode, true)
	if err != nil {
		return fmt.Errorf("opening the source: %w", err)
	}
	defer src.Close()
	dst, err := open(ctx, dstNode, false)
	if err != nil {
		return fmt.Errorf("opening the destination: %w", err)
	}
	defer dst.Close()
	fmt.Fprintln(opts.Out, "Storages opened successfully.")
	it, ok := src.(storage.Iterator)
	if !ok {
		return fmt.Errorf("the source (%s) cannot be iterated", src.Info().Name)
	}
	start := tid.TID(0)
	switch {
	case opts.Clear:
		zapper, ok := dst.(interface{ Zap(context.Context) error })
		if !ok {
			return ErrCannotClear
		}
		if opts.DryRun {
			fmt.Fprintln(opts.Out, "Dry run mode: would clear the destination.")
		} else if err := zapper.Zap(ctx); err != nil {
			return fmt.Errorf("clearing the destination: %w", err)
		}
	case opts.Incremental:
		start = dst.LastTransaction() + 1
		fmt.Fprintf(opts.Out, "Resuming after %s.\n", dst.LastTransaction())
	case dst.LastTransaction() != 0:
		return ErrNotEmpty
	}
	if opts.DryRun {
		fmt.Fprintln(opts.Out, "Dry run mode: not changing the destination.")
		return nil
	}
	return copyTransactions(src, it, dst, start, opts)
}

// open opens a <filestorage> or <relstorage> section.
func open(ctx context.Context, n *zconfig.Node, source bool) (storage.Storage, error) {
	switch n.Type {
	case "filestorage":
		return fsstorage.OpenWithBlobs(n.String("path"), n.String("blob-dir"), filestorage.Options{
			Create: n.Bool("create") && !source, ReadOnly: n.Bool("read-only") || source})
	case "relstorage":
		c, err := pgstorage.ConfigFromNode(n)
		if err != nil {
			return nil, err
		}
		if source {
			c.ReadOnly, c.CreateSchema = true, false
		}
		return c.Open(ctx)
	}
	return nil, fmt.Errorf("%s: storage type <%s> is not supported by zodbconvert (filestorage, relstorage)", n.Pos, n.Type)
}

// copyTransactions restores every transaction of it from start on into
// dst, reporting progress.
func copyTransactions(src storage.Storage, it storage.Iterator, dst storage.Storage, start tid.TID, opts Options) error {
	srcBlobs, _ := src.(storage.BlobStorage)
	dstBlobs, _ := dst.(storage.BlobStorage)
	every := opts.Every
	if every <= 0 {
		every = time.Second
	}
	began := time.Now()
	next := began.Add(every)
	var txns, objs int
	var ferr error
	err := it.Iterate(start, 0, func(r storage.TxnRecord) bool {
		ferr = restoreOne(dst, r, srcBlobs, dstBlobs)
		if ferr != nil {
			ferr = fmt.Errorf("copying transaction %s: %w", r.TID, ferr)
			return false
		}
		txns++
		objs += len(r.Records)
		if now := time.Now(); now.After(next) {
			next = now.Add(every)
			secs := now.Sub(began).Seconds()
			fmt.Fprintf(opts.Out, "Copied %d transactions, %d objects (%.0f objects/s), up to %s\n", txns, objs, float64(objs)/secs, r.TID)
		}
		return true
	})
	if ferr != nil {
		return ferr
	}
	if err != nil {
		return fmt.Errorf("reading the source: %w", err)
	}
	secs := time.Since(began).Seconds()
	fmt.Fprintf(opts.Out, "All %d transactions (%d objects) copied successfully in %.1f seconds.\n", txns, objs, secs)
	return nil
}

func restoreOne(dst storage.Storage, r storage.TxnRecord, srcBlobs, dstBlobs storage.BlobStorage) error {
	tx, err := dst.Begin(storage.TxnMeta{User: r.User, Description: r.Description, Extension: r.Extension,
		TID: r.TID, Status: r.Status})
	if err != nil {
		return err
	}
	for _, d := range r.Records {
		if err := restoreRecord(tx, d, srcBlobs, dstBlobs); err != nil {
			tx.Abort()
			return err
		}
	}
	if err := tx.Vote(); err != nil {
		tx.Abort()
		return err
	}
	_, err = tx.Finish()
	return err
}

// restoreRecord restores one record, with its blob when the source has
// one for it (a ZODB.blob.Blob record whose file the source serves).
func restoreRecord(tx storage.Transaction, d storage.DataRecord, srcBlobs, dstBlobs storage.BlobStorage) error {
	if srcBlobs == nil || d.Data == nil || !filestorage.IsBlobRecord(d.Data) {
		return tx.Restore(d.OID, d.TID, d.Data, d.DataTxn)
	}
	from, err := srcBlobs.LoadBlob(d.OID, d.TID)
	var pk *storage.POSKeyError
	if errors.As(err, &pk) {
		return tx.Restore(d.OID, d.TID, d.Data, d.DataTxn) // a blob record without its file
	}
	if err != nil {
		return err
	}
	br, ok := tx.(storage.BlobRestorer)
	if dstBlobs == nil || !ok {
		return fmt.Errorf("object %s has a blob and the destination takes none (give it a blob-dir)", d.OID)
	}
	// The destination takes the file: give it a copy in its own
	// temporary directory (same filesystem as its blobs).
	tmp, err := copyToDir(from, dstBlobs.TemporaryDirectory())
	if err != nil {
		return err
	}
	return br.RestoreBlob(d.OID, d.TID, d.Data, tmp, d.DataTxn)
}

func copyToDir(from, dir string) (string, error) {
	in, err := os.Open(from)
	if err != nil {
		return "", err
	}
	defer in.Close()
	out, err := os.CreateTemp(dir, "zodbconvert-*.tmp")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(out.Name())
		return "", err
	}
	if err := out.Close(); err != nil {
		os.Remove(out.Name())
		return "", err
	}
	return out.Name(), nil
}
