package pgstorage

import (
	"fmt"
	"strings"

	"github.com/zdkit/zdkit/pkg/regularfile"
)

// ReadReplicaConf reads RelStorage's replica file (ro-replica-conf,
// RelStorage 4.2 adapters/replica.py): one DSN per line, blank lines and
// lines starting with '#' ignored. A file listing none is an error
// naming it.
func ReadReplicaConf(path string) ([]string, error) {
	data, err := regularfile.ReadFile(path, 1<<20)
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
