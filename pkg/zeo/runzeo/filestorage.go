package runzeo

import (
	"errors"
	"fmt"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zeo/fsstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

func init() { OpenFileStorage = openFileStorage }

// openFileStorage opens a <filestorage> through the adapter. Keys the
// Go FileStorage does not implement yet are refused rather than ignored.
func openFileStorage(c FileStorageConfig) (storage.Storage, error) {
	switch {
	case c.Quota != 0:
		return nil, errors.New("quota is not supported yet")
	case c.Packer != "":
		// ZODB imports and calls this dotted name; there is no Python here.
		return nil, fmt.Errorf("packer %s names a Python function; it is not supported (remove the key)", pyrepr.Str(c.Packer))
	}
	s, err := fsstorage.OpenWithBlobs(c.Path, c.BlobDir, filestorage.Options{
		Create: c.Create, ReadOnly: c.ReadOnly, PackDiscardOld: !c.PackKeepOld})
	if err != nil {
		return nil, err
	}
	s.NoPackGC = !c.PackGC
	return s, nil
}
