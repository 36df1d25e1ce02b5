package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/getopt"
)

// FuzzParse feeds arbitrary command lines (NUL-separated words) to Parse:
// it must never panic, and every failure must be help, version or a
// usage error (exit 2), never anything else.
func FuzzParse(f *testing.F) {
	f.Add("-p\x00sleep 1\x00-b\x003\x00-x\x000, 2\x00-m\x000o22\x00status")
	f.Add("-pfoo\x00-b\x00x")
	f.Add("--exit-codes=\x00-p\x00a\x00-T\x00-1\x00--settle-time=-5")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		for _, a := range args {
			if strings.HasPrefix(a, "-C") || strings.HasPrefix(a, "--c") || strings.HasPrefix(a, "-S") {
				return // keep the fuzzer away from the file system
			}
		}
		o, err := Parse("zdctl", args, Zdctl)
		if err != nil {
			if !errors.Is(err, getopt.ErrUsage) && !errors.Is(err, ErrHelp) && !errors.Is(err, ErrVersion) {
				t.Fatalf("unexpected error kind %T: %v", err, err)
			}
			return
		}
		if len(o.Program) == 0 || o.BackoffLimit < 1 {
			t.Fatalf("accepted bad options %+v", o)
		}
		_ = o.ZdrunArgs(nil)
	})
}
