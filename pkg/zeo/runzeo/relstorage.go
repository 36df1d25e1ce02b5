package runzeo

import (
	"context"
	"time"

	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/pgstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// relStorageSpec reads a <relstorage> section with its <postgresql>
// adapter into a storage to open.
func relStorageSpec(st *zconfig.Node) (storageSpec, error) {
	c, err := pgstorage.ConfigFromNode(st)
	if err != nil {
		return storageSpec{}, err
	}
	return storageSpec{name: st.Name, kind: "RelStorage (PostgreSQL)", open: func() (storage.Storage, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return c.Open(ctx)
	}}, nil
}
