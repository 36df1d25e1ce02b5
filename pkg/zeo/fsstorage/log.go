package fsstorage

import (
	"fmt"
	"sync"

	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

var _ storage.Logging = (*Storage)(nil)

// logSink keeps filestorage's warnings (filestorage.Options.Logf) until
// the server attaches its log, then forwards them as Python's
// ZODB.FileStorage logger's WARNING records.
type logSink struct {
	mu  sync.Mutex
	buf []string
	out func(level int, name, msg string)
}

const maxBufferedLogs = 100

func (l *logSink) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.out != nil {
		l.out(30, "ZODB.FileStorage", msg)
	} else if len(l.buf) < maxBufferedLogs {
		l.buf = append(l.buf, msg)
	}
}

// SetLog implements storage.Logging. Without it (opts.Logf given to Open,
// or no server), nothing is forwarded.
func (s *Storage) SetLog(log func(level int, name, msg string)) {
	if s.logs == nil {
		return
	}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	s.logs.out = log
	for _, m := range s.logs.buf {
		log(30, "ZODB.FileStorage", m)
	}
	s.logs.buf = nil
}
