package logging

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Rotation is a <logfile>'s own rotation, as ZConfig 4.3's
// FileHandlerFactory sets it up: by size (max-size and old-files, Python's
// logging.handlers.RotatingFileHandler) or by time (when, interval and
// old-files, TimedRotatingFileHandler). The rotated files get the names
// Python gives them, so tools that look for zeo.log.1 or
// zeo.log.2026-12-07 keep working. The zero value rotates nothing.
//
// natefinch/lumberjack, the usual Go library for size rotation, names its
// backups after a time stamp (zeo-2026-12-07T04-00-00.000.log) and cannot
// give Python's .1, .2, ... names, so rotation is written here; it is a
// few renames under the handler's lock.
type Rotation struct {
	// MaxSize rotates the file before a record would make it reach this
	// many bytes (max-size).
	MaxSize int64
	// OldFiles is how many rotated files are kept (old-files).
	OldFiles int
	// When is S, M, H, D, MIDNIGHT or W0 (Monday) ... W6, in any case.
	When string
	// Interval is how many When units pass between rotations (interval;
	// 1 when 0).
	Interval int
}

func (r Rotation) active() bool { return r.MaxSize > 0 || r.When != "" }

// timedPolicy is a checked When: the length of one interval, the
// strftime suffix of the rotated files, and the pattern that recognises
// them when old ones are deleted (Python 3.11's TimedRotatingFileHandler
// suffix and extMatch).
type timedPolicy struct {
	when     string // upper-cased
	every    time.Duration
	weekday  int // W0..W6: 0 is Monday, as in Python
	suffix   string
	matchExt *regexp.Regexp
}

var (
	extSeconds = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}$`)
	extMinutes = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}_\d{2}-\d{2}$`)
	extHours   = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}_\d{2}$`)
	extDays    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
)

// ErrRotation wraps the rotation settings ZConfig's FileHandlerFactory and
// Python's handlers refuse.
var ErrRotation = errors.New("invalid log rotation")

// parseWhen checks when and interval as TimedRotatingFileHandler.__init__
// does, with its messages.
func parseWhen(when string, interval int) (*timedPolicy, error) {
	if interval <= 0 {
		interval = 1
	}
	w := strings.ToUpper(when)
	p := &timedPolicy{when: w}
	n := time.Duration(interval)
	switch {
	case w == "S":
		p.every, p.suffix, p.matchExt = n*time.Second, "%Y-%m-%d_%H-%M-%S", extSeconds
	case w == "M":
		p.every, p.suffix, p.matchExt = n*time.Minute, "%Y-%m-%d_%H-%M", extMinutes
	case w == "H":
		p.every, p.suffix, p.matchExt = n*time.Hour, "%Y-%m-%d_%H", extHours
	case w == "D" || w == "MIDNIGHT":
		p.every, p.suffix, p.matchExt = n*24*time.Hour, "%Y-%m-%d", extDays
	case strings.HasPrefix(w, "W"):
		if len(w) != 2 {
			return nil, fmt.Errorf("%w: You must specify a day for weekly rollover from 0 to 6 (0 is Monday): %s", ErrRotation, w)
		}
		if w[1] < '0' || w[1] > '6' {
			return nil, fmt.Errorf("%w: Invalid day specified for weekly rollover: %s", ErrRotation, w)
		}
		p.weekday = int(w[1] - '0')
		p.every, p.suffix, p.matchExt = n*7*24*time.Hour, "%Y-%m-%d", extDays
	default:
		return nil, fmt.Errorf("%w: Invalid rollover interval specified: %s", ErrRotation, w)
	}
	return p, nil
}

// next is TimedRotatingFileHandler.computeRollover: the first rotation
// after t. S, M, H and D count intervals from t; MIDNIGHT is the next
// local midnight; Wn is the midnight that ends the next day n (Python's
// reckoning: W0 rotates as Monday turns into Tuesday). Local midnights
// are computed in the local zone, so a DST change moves nothing.
func (p *timedPolicy) next(t time.Time) time.Time {
	if p.when != "MIDNIGHT" && p.when[0] != 'W' {
		return t.Add(p.every)
	}
	y, m, d := t.Date()
	if p.when == "MIDNIGHT" {
		return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
	}
	today := (int(t.Weekday()) + 6) % 7 // Monday is 0, as Python's tm_wday
	wait := 0
	if today != p.weekday {
		if today < p.weekday {
			wait = p.weekday - today
		} else {
			wait = 6 - today + p.weekday + 1
		}
	}
	return time.Date(y, m, d+1+wait, 0, 0, 0, 0, t.Location())
}

// rotator is the rotation state of one file handler; the handler's lock
// guards it.
type rotator struct {
	cfg   Rotation
	timed *timedPolicy
	at    time.Time // the next timed rotation
}

func newRotator(cfg Rotation, path string, now time.Time) (*rotator, error) {
	r := &rotator{cfg: cfg}
	if cfg.When == "" {
		return r, nil
	}
	p, err := parseWhen(cfg.When, cfg.Interval)
	if err != nil {
		return nil, err
	}
	r.timed = p
	// Python starts counting from the file's last change, so a program
	// restarted every hour still rotates a daily log once a day.
	start := now
	if st, err := os.Stat(path); err == nil {
		start = st.ModTime()
	}
	r.at = p.next(start)
	return r, nil
}

// due reports whether a record of n bytes written at t rotates the file
// first (the handlers' shouldRollover). Only a regular file rotates
// (CPython bpo-45401), and an empty one does not (CPython gh-116263,
// fixed after 3.11, which left an empty zeo.log.1 when one record
// exceeded max-size).
func (r *rotator) due(f *os.File, path string, n int, t time.Time) bool {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return false
	}
	if r.timed != nil {
		return !t.Before(r.at)
	}
	pos, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false
	}
	return pos > 0 && pos+int64(n) >= r.cfg.MaxSize
}

// rotate moves path aside as Python's doRollover does; the caller then
// opens a new file at path. For size rotation path.1 becomes path.2 and
// so on up to old-files, and path becomes path.1; for timed rotation path
// becomes path.<start of the interval>, and the oldest such files beyond
// old-files are deleted.
func (r *rotator) rotate(path string, t time.Time) error {
	if r.timed == nil {
		for i := r.cfg.OldFiles - 1; i >= 1; i-- {
			src, dst := fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1)
			if _, err := os.Stat(src); err != nil {
				continue
			}
			if err := removeIfExists(dst); err != nil {
				return err
			}
			if err := os.Rename(src, dst); err != nil {
				return fmt.Errorf("rotating %s: %w", src, err)
			}
		}
		return moveAside(path, path+".1")
	}
	start := r.at.Add(-r.timed.every)
	dst := path + "." + string(strftime(nil, r.timed.suffix, start))
	if err := moveAside(path, dst); err != nil {
		return err
	}
	next := r.timed.next(t)
	for !next.After(t) {
		next = next.Add(r.timed.every)
	}
	r.at = next
	return r.deleteOld(path)
}

// deleteOld is getFilesToDelete: keep the newest old-files rotated files.
func (r *rotator) deleteOld(path string) error {
	if r.cfg.OldFiles <= 0 {
		return nil
	}
	dir, base := filepath.Split(path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return fmt.Errorf("listing %s for old log files: %w", dir, err)
	}
	var old []string
	for _, e := range entries {
		if ext, ok := strings.CutPrefix(e.Name(), base+"."); ok && r.timed.matchExt.MatchString(ext) {
			old = append(old, e.Name())
		}
	}
	if len(old) <= r.cfg.OldFiles {
		return nil
	}
	sort.Strings(old)
	var errs []error
	for _, name := range old[:len(old)-r.cfg.OldFiles] {
		errs = append(errs, removeIfExists(filepath.Join(dir, name)))
	}
	return errors.Join(errs...)
}

func moveAside(path, dst string) error {
	if err := removeIfExists(dst); err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating %s: %w", path, err)
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing old log file: %w", err)
	}
	return nil
}
