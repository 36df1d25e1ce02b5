package pgstorage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// unsupportedKeys are the <relstorage> keys RelStorage knows and this
// storage does not implement yet: given, they are an error naming them
// rather than being ignored.
var unsupportedKeys = []string{
	"blob-cache-size", "blob-cache-size-check", "blob-cache-size-check-external",
	"blob-chunk-size", "replica-conf",
	"pack-gc", "pack-prepack-only", "pack-skip-prepack", "pack-batch-timeout", "pack-commit-busy-delay",
	"cache-servers", "cache-module-name", "cache-prefix", "cache-local-mb", "cache-local-storage",
	"cache-local-dir", "cache-local-dir-count", "cache-local-dir-read-count", "cache-local-dir-compress",
	"cache-local-dir-write-max-size", "cache-local-object-max", "cache-local-compression",
	"cache-delta-size-limit", "commit-lock-id",
}

// Config is a <relstorage> section with its <postgresql> adapter, read.
type Config struct {
	Options
	BlobDir string // "": no blobs
	// SharedBlobDir keeps blobs only in BlobDir, shared by every front
	// end, instead of in the database (RelStorage's shared-blob-dir).
	SharedBlobDir bool
}

// ConfigFromNode reads a <relstorage> section (RelStorage 4.2
// component.xml) checked by zconfig.RelStorageType.
func ConfigFromNode(st *zconfig.Node) (Config, error) {
	for _, k := range unsupportedKeys {
		if st.Has(k) {
			return Config{}, st.ValueError(k, "<relstorage> key %s is not supported yet (remove it)", k)
		}
	}
	shared := st.Bool("shared-blob-dir")
	if shared && st.String("blob-dir") == "" {
		return Config{}, st.ValueError("shared-blob-dir", "<relstorage> shared-blob-dir true needs a blob-dir (the directory every front end shares)")
	}
	pg := st.Section("postgresql")
	if pg == nil {
		return Config{}, fmt.Errorf("%s: <relstorage %s> needs a <postgresql> section (the only RelStorage adapter supported)", st.Pos, st.Name)
	}
	c := Config{Options: Options{
		DSN:          strings.TrimSpace(pg.String("dsn")),
		Name:         st.String("name"),
		KeepHistory:  st.Bool("keep-history"),
		ReadOnly:     st.Bool("read-only"),
		CreateSchema: st.Bool("create-schema"),
	}, BlobDir: st.String("blob-dir"), SharedBlobDir: shared}
	if err := checkDSN(pg, c.DSN); err != nil {
		return Config{}, err
	}
	if st.Has("poll-interval") {
		c.PollInterval = time.Duration(st.Float("poll-interval") * float64(time.Second))
	}
	if st.Has("commit-lock-timeout") {
		n := st.Int("commit-lock-timeout")
		if n <= 0 {
			return Config{}, st.ValueError("commit-lock-timeout", "commit-lock-timeout must be a positive number of seconds")
		}
		c.CommitLockTimeout = time.Duration(n) * time.Second
	}
	if st.Has("ro-replica-conf") {
		// Loads from hot standbys (replica.go); polls and commits stay on
		// the primary. revert_when_stale has nothing to revert here: a
		// standby that lags is skipped for that load.
		dsns, err := ReadReplicaConf(st.String("ro-replica-conf"))
		if err != nil {
			return Config{}, st.ValueError("ro-replica-conf", "ro-replica-conf: %v", err)
		}
		c.ReadReplicas = dsns
		c.ReplicaTimeout = time.Duration(st.Float("replica-timeout") * float64(time.Second))
	}
	if c.Name == "" {
		// RelStorage names itself after the adapter and its DSN; the DSN
		// may hold a password, so only the database kind is shown.
		c.Name = "RelStorage: PostgreSQL"
	}
	return c, nil
}

// Open opens the configured storage, with blobs when BlobDir is set.
func (c Config) Open(ctx context.Context) (storage.Storage, error) {
	s, err := Open(ctx, c.Options)
	if err != nil {
		return nil, err
	}
	if c.BlobDir == "" {
		return s, nil
	}
	withBlobs := WithBlobs
	if c.SharedBlobDir {
		withBlobs = WithSharedBlobs
	}
	bs, err := withBlobs(s, c.BlobDir)
	if err != nil {
		s.Close()
		return nil, err
	}
	return bs, nil
}

// checkDSN refuses, at configuration time, a dsn that cannot be parsed,
// naming the file and line of the key (pgx's message shows the DSN with
// its password redacted, so the raw value is not repeated). An empty dsn
// is libpq's defaults and environment (PGHOST, ...), as in RelStorage.
func checkDSN(pg *zconfig.Node, dsn string) error {
	pos := pg.Pos
	if v, ok := pg.Value("dsn"); ok {
		pos = v.Pos
	}
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return fmt.Errorf("%s: <postgresql> dsn: %w", pos, err)
	}
	return nil
}
