package fsstorage

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zdkit/zdkit/pkg/filestorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

// Python runzeo reopening an empty Data.fs (index written at close) logs
// "WARNING ZODB.FileStorage Ignoring index for PATH" before "StorageServer
// created ..."; the warning reaches the server's log hook in that order
// (interop item 18).
func TestIgnoredIndexWarningReachesServerLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Data.fs")
	st, err := Open(path, filestorage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = Open(path, filestorage.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs []string
	srv, err := server.New(map[string]storage.Storage{"1": st}, server.Options{Log: func(l server.Level, name, msg string) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf("%d %s %s", l, name, msg))
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(logs) < 2 || logs[0] != "30 ZODB.FileStorage Ignoring index for "+path || !strings.Contains(logs[1], "StorageServer created RW") {
		t.Errorf("logs:\n%s", strings.Join(logs, "\n"))
	}
}
