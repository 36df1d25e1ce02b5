package zconfig

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzFiles is the file system a fuzzed %include sees: two small files
// and a self-including one, so includes and cycles get exercised without
// touching the disk.
var fuzzFiles = map[string]string{
	"inc.conf":   "%define included yes\nkey $included\n<sub>\n a b\n</sub>\n",
	"loop.conf":  "%include loop.conf\n",
	"zeo.conf":   "<zeo>\n address 127.0.0.1:0\n</zeo>\n<mappingstorage>\n</mappingstorage>\n",
	"empty.conf": "",
}

func fuzzOptions() ParseOptions {
	return ParseOptions{
		Env: func(name string) (string, bool) {
			if name == "HOME" || name == "ZDKIT_FUZZ" {
				return "/fuzz/" + name, true
			}
			return "", false
		},
		ReadFile: func(path string) ([]byte, error) {
			if s, ok := fuzzFiles[filepath.Base(path)]; ok {
				return []byte(s), nil
			}
			return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
		},
	}
}

var sentinels = []error{ErrSyntax, ErrUnknownKey, ErrUnknownSection, ErrMissing, ErrBadValue,
	ErrDuplicate, ErrUnterminated, ErrSubstitution, ErrInclude, ErrOverride}

// checkFuzzError insists that every error is an *Error of a known kind
// with a message.
func checkFuzzError(t *testing.T, err error) {
	var ze *Error
	if !errors.As(err, &ze) {
		t.Fatalf("error is %T, not *Error: %v", err, err)
	}
	known := false
	for _, s := range sentinels {
		if errors.Is(err, s) {
			known = true
		}
	}
	if !known || ze.Msg == "" {
		t.Fatalf("error of unknown kind or without message: %#v", ze)
	}
}

// FuzzParse feeds arbitrary text to the syntax layer: it must return a
// tree or an *Error, never panic, and every value it returns must be a
// line of the input or a substitution result (no newlines inside).
func FuzzParse(f *testing.F) {
	f.Add([]byte("<runner>\n program sleep 1\n</runner>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := Parse(bytes.NewReader(data), "/fuzz/main.conf", fuzzOptions())
		if err != nil {
			checkFuzzError(t, err)
			_ = err.Error()
			return
		}
		var walk func(s *Section, depth int)
		walk = func(s *Section, depth int) {
			if depth > MaxNesting {
				t.Fatalf("nesting %d beyond the limit", depth)
			}
			for _, kv := range s.Values {
				if kv.Key == "" || strings.ContainsAny(kv.Key, " \t\n()") {
					t.Fatalf("bad key %q", kv.Key)
				}
				if kv.Pos.Line <= 0 {
					t.Fatalf("value without a line: %#v", kv)
				}
			}
			for _, c := range s.Sections {
				if c.Type == "" || c.Type != strings.ToLower(c.Type) {
					t.Fatalf("bad section type %q", c.Type)
				}
				walk(c, depth+1)
			}
		}
		walk(root, 0)
		// The schemas must cope with any tree the parser accepts.
		for _, s := range []*Schema{ZDaemonSchema, ZEOSchema} {
			if n, err := s.Check(root); err != nil {
				checkFuzzError(t, err)
			} else if n == nil {
				t.Fatal("nil node without error")
			}
		}
	})
}

// FuzzLoadZEO runs text and one -X override through runzeo's schema and
// reads every kind of value back.
func FuzzLoadZEO(f *testing.F) {
	f.Add([]byte("<zeo>\n address 8100\n</zeo>\n<filestorage>\n path Data.fs\n</filestorage>\n"), "zeo/read-only=true")
	f.Fuzz(func(t *testing.T, data []byte, override string) {
		root, err := Parse(bytes.NewReader(data), "/fuzz/zeo.conf", fuzzOptions())
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		var ovs []string
		if override != "" {
			ovs = append(ovs, override)
		}
		cfg, err := ZEOSchema.Check(root, ovs...)
		if err != nil {
			checkFuzzError(t, err)
			_ = err.Error()
			return
		}
		z := cfg.Section("zeo")
		if z == nil {
			t.Fatal("loaded without <zeo>")
		}
		_ = z.Address("address").String()
		_, _, _ = z.Bool("read-only"), z.Int("invalidation-queue-size"), z.Float("invalidation-age")
		_ = z.Duration("transaction-timeout")
		names := map[string]bool{}
		for _, st := range cfg.Storages() {
			if st.Name == "" {
				t.Fatal("storage without a name")
			}
			if names[st.Name] {
				t.Fatalf("storage name %q twice", st.Name)
			}
			names[st.Name] = true
			_, _ = st.Bytes("quota"), st.String("path")
		}
		if len(names) == 0 {
			t.Fatal("loaded without storages")
		}
	})
}
