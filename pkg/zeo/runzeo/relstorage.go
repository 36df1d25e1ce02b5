package runzeo

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/pgstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// relStorageUnsupported are the <relstorage> keys RelStorage knows and
// this runzeo does not implement yet: given, they stop the start with
// an error naming them rather than being ignored.
var relStorageUnsupported = []string{
	"blob-dir", "blob-cache-size", "blob-cache-size-check", "blob-cache-size-check-external",
	"blob-chunk-size", "replica-conf",
	"pack-gc", "pack-prepack-only", "pack-skip-prepack", "pack-batch-timeout", "pack-commit-busy-delay",
	"cache-servers", "cache-module-name", "cache-prefix", "cache-local-mb", "cache-local-storage",
	"cache-local-dir", "cache-local-dir-count", "cache-local-dir-read-count", "cache-local-dir-compress",
	"cache-local-dir-write-max-size", "cache-local-object-max", "cache-local-compression",
	"cache-delta-size-limit", "commit-lock-id",
}

// relStorageSpec reads a <relstorage> section with its <postgresql>
// adapter (RelStorage 4.2 component.xml) into a storage to open.
func relStorageSpec(st *zconfig.Node) (storageSpec, error) {
	for _, k := range relStorageUnsupported {
		if st.Has(k) {
			return storageSpec{}, st.ValueError(k, "<relstorage> key %s is not supported yet by this runzeo (remove it)", k)
		}
	}
	if st.Bool("shared-blob-dir") {
		return storageSpec{}, st.ValueError("shared-blob-dir", "<relstorage> shared-blob-dir true is not supported yet by this runzeo (blobs are not served from PostgreSQL yet)")
	}
	pg := st.Section("postgresql")
	if pg == nil {
		return storageSpec{}, fmt.Errorf("%s: <relstorage %s> needs a <postgresql> section (the only RelStorage adapter this runzeo supports)", st.Pos, st.Name)
	}
	opts := pgstorage.Options{
		DSN:          strings.TrimSpace(pg.String("dsn")),
		Name:         st.String("name"),
		KeepHistory:  st.Bool("keep-history"),
		ReadOnly:     st.Bool("read-only"),
		CreateSchema: st.Bool("create-schema"),
	}
	if st.Has("poll-interval") {
		opts.PollInterval = time.Duration(st.Float("poll-interval") * float64(time.Second))
	}
	if st.Has("commit-lock-timeout") {
		n := st.Int("commit-lock-timeout")
		if n <= 0 {
			return storageSpec{}, st.ValueError("commit-lock-timeout", "commit-lock-timeout must be a positive number of seconds")
		}
		opts.CommitLockTimeout = time.Duration(n) * time.Second
	}
	if st.Has("ro-replica-conf") {
		// RelStorage 4.2 adapters/replica.py: a file of DSNs, one per
		// line, '#' starting a comment.
		path := st.String("ro-replica-conf")
		dsns, err := readReplicaConf(path)
		if err != nil {
			return storageSpec{}, st.ValueError("ro-replica-conf", "ro-replica-conf: %v", err)
		}
		opts.ReadReplicas = dsns
		opts.ReplicaTimeout = time.Duration(st.Float("replica-timeout") * float64(time.Second))
	}
	if opts.Name == "" {
		// RelStorage names itself after the adapter and its DSN; the DSN
		// may hold a password, so only the database kind is shown.
		opts.Name = "RelStorage: PostgreSQL"
	}
	return storageSpec{name: st.Name, kind: "RelStorage (PostgreSQL)", open: func() (storage.Storage, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return pgstorage.Open(ctx, opts)
	}}, nil
}

// readReplicaConf reads RelStorage's replica file: one DSN per line,
// blank lines and lines starting with '#' ignored.
func readReplicaConf(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var dsns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		dsns = append(dsns, line)
	}
	if len(dsns) == 0 {
		return nil, fmt.Errorf("%s lists no replica", path)
	}
	return dsns, nil
}
