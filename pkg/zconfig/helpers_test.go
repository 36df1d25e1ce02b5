package zconfig

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// instanceHome makes the tree mkzeoinst creates (etc, var, log, bin with
// executable runzeo and zdrun) in a temporary directory.
func instanceHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{"etc", "var", "log", "bin"} {
		if err := os.Mkdir(filepath.Join(home, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"bin/runzeo", "bin/zdrun"} {
		if err := os.WriteFile(filepath.Join(home, f), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

// fromTemplate copies testdata/name into dir with @HOME@ replaced by home
// and returns the copy's path.
func fromTemplate(t *testing.T, name, dir, home string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(name))
	if err := os.WriteFile(out, []byte(strings.ReplaceAll(string(data), "@HOME@", home)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeConf writes text to a file in a temporary directory.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantErr checks that err wraps kind and that its message is exactly msg
// (with PATH replaced by the file: URL of path).
func wantErr(t *testing.T, err error, kind error, msg, path string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", msg)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q does not wrap %v", err, kind)
	}
	want := strings.ReplaceAll(msg, "PATH", "file://"+path)
	if err.Error() != want {
		t.Errorf("error message\n got: %s\nwant: %s", err.Error(), want)
	}
}
