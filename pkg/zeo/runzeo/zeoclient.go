package runzeo

import (
	"context"
	"fmt"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zconfig"
	"github.com/zdkit/zdkit/pkg/zeo/clientstorage"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// zeoClientUnsupported are <zeoclient> keys whose ZEO 6 ClientStorage
// behaviour this runzeo does not have: giving one is an error naming it,
// never a setting quietly dropped. (The disconnect polls, credentials and
// drop-cache-rather-verify are accepted with a warning in the log: ZEO 6
// ClientStorage takes them and ignores them.)
var zeoClientUnsupported = map[string]string{
	"blob-cache-size":       "the blob directory is not size-limited",
	"blob-cache-size-check": "the blob directory is not size-limited",
}

// zeoClientSpec is a <zeoclient> storage: a ZEO client of an upstream
// server, served to our clients (ZEO's fan-out).
func zeoClientSpec(st *zconfig.Node) (storageSpec, error) {
	for _, key := range []string{"blob-cache-size", "blob-cache-size-check"} {
		if v, ok := st.Value(key); ok && !v.Default {
			return storageSpec{}, fmt.Errorf("%s: <zeoclient> key %s (%s) is not supported by this runzeo: %s",
				v.Pos, key, pyrepr.Str(v.Raw), zeoClientUnsupported[key])
		}
	}
	if v, ok := st.Value("shared-blob-dir"); ok && !v.Default && st.Bool("shared-blob-dir") {
		return storageSpec{}, fmt.Errorf("%s: <zeoclient> key shared-blob-dir (%s) is not supported by this runzeo: blobs are fetched from the upstream into blob-dir",
			v.Pos, pyrepr.Str(v.Raw))
	}
	var addrs []string
	for _, v := range st.Values("server") {
		a, ok := v.Typed.(zconfig.Address)
		if !ok {
			return storageSpec{}, fmt.Errorf("%s: <zeoclient> server %s is not an address", v.Pos, pyrepr.Str(v.Raw))
		}
		addrs = append(addrs, a.String())
	}
	var ignored []string
	for _, key := range []string{"min-disconnect-poll", "max-disconnect-poll", "drop-cache-rather-verify", "username", "password", "realm"} {
		if st.Has(key) {
			ignored = append(ignored, key)
		}
	}
	cfg := clientstorage.Config{
		Ignored:          ignored,
		Addrs:            addrs,
		Storage:          st.String("storage"),
		Name:             st.String("name"),
		CacheSize:        st.Bytes("cache-size"),
		Client:           st.String("client"),
		Var:              st.String("var"),
		ReadOnly:         st.Bool("read-only"),
		ReadOnlyFallback: st.Bool("read-only-fallback"),
		NoWait:           !st.Bool("wait"),
		BlobDir:          st.String("blob-dir"),
		Label:            st.String("client-label"),
	}
	pos := st.Pos
	return storageSpec{name: st.Name, kind: "ZEOClient", open: func() (storage.Storage, error) {
		s, err := clientstorage.Open(context.Background(), cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		return s, nil
	}}, nil
}
