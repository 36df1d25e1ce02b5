package zdctl

import (
	"strings"
	"testing"
)

// FuzzParseLine: cmd.Cmd-style line splitting never panics, the verb is
// identifier characters only, and nothing is invented.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"status -l", "?kill", "!ls", "  ", "kill\t9", "status-l", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		verb, arg := parseLine(line)
		for i := 0; i < len(verb); i++ {
			if !isIdent(verb[i]) {
				t.Fatalf("verb %q has a non-identifier byte", verb)
			}
		}
		if len(verb)+len(arg) > len(line)+len("shell ") {
			t.Fatalf("parseLine(%q) = %q %q grew", line, verb, arg)
		}
		if arg != strings.TrimSpace(arg) {
			t.Fatalf("arg %q not trimmed", arg)
		}
	})
}

// FuzzParseSignal: any argument either names a known signal, whose
// canonical name maps back to the same number, or is refused.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"12", "USR2", "sigusr2", "sig_ign", "0", "-1", "65", "SIGRTMIN", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		sig, name, ok := parseSignal(arg)
		if !ok {
			if sig != 0 || name != "" {
				t.Fatalf("refused %q but returned %d %q", arg, sig, name)
			}
			return
		}
		if pySignals[name] != sig || sig <= 0 || sig >= 65 {
			t.Fatalf("parseSignal(%q) = %d %q inconsistent", arg, sig, name)
		}
	})
}
