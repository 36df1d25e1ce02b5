package zdctl

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// prefixed keeps the candidates readline would offer for the word at the
// end of line, sorted.
func prefixed(line string, cands []string) []string {
	word := ""
	if !strings.HasSuffix(line, " ") {
		if f := strings.Fields(line); len(f) > 0 {
			word = f[len(f)-1]
		}
	}
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, word) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// bashComplete sources the generated bash script and calls its function
// with COMP_WORDS set to words (the last one being completed).
func bashComplete(t *testing.T, script string, words []string) []string {
	t.Helper()
	var quoted []string
	for _, w := range words {
		quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_zdctl\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("bash: %v\n%s", err, stderr.String())
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			got = append(got, l)
		}
	}
	slices.Sort(got)
	return got
}

// TestBashCompletionMatchesShell: the bash script and the shell's TAB
// completion come from the same table, so for the same line they offer
// the same words; bash -n accepts the script.
func TestBashCompletionMatchesShell(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "zdctl.bash")
	var out, errOut bytes.Buffer
	if rc := writeCompletion(&out, &errOut, "bash"); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errOut.String())
	}
	if err := os.WriteFile(script, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, msg)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Controller{}
	lines := []string{
		"", "st", "kill ", "kill US", "show ", "show --", "help re", "status ",
		"status -", "completion ", "completion z", "stop ", "logtail " + dir + "/ap",
		"reload -", "reload --c", "reload -C " + dir + "/ap", "fg " + dir + "/a",
	}
	for _, line := range lines {
		want := prefixed(line, c.complete(line))
		words := append([]string{"zdctl"}, strings.Fields(line)...)
		if line == "" || strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		got := bashComplete(t, script, words)
		if !slices.Equal(got, want) {
			t.Errorf("line %q: bash offers %q, the shell %q", line, got, want)
		}
		if len(want) == 0 && line != "stop " {
			t.Errorf("line %q: nothing offered", line)
		}
	}
	// On the command line, options come first and their values are skipped.
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"zdctl", "-C", "x.conf", "ki"}, "kill"},
		{[]string{"zdctl", "--configure", "x.conf", "-d", "kill", "US"}, "USR1 USR2"},
		{[]string{"zdctl", "--st"}, "--start-timeout --stop-timeout"},
		{[]string{"zeoctl", "-p", "sleep", "status", "--"}, "--json"},
		{[]string{"zdctl", "-C", dir + "/ap"}, dir + "/app.log"},
	} {
		if got := strings.Join(bashComplete(t, script, tc.words), " "); got != tc.want {
			t.Errorf("%q: got %q want %q", tc.words, got, tc.want)
		}
	}
}

// TestCompletionScriptsSyntax checks the zsh and fish scripts with those
// shells when they are installed, and that every completed word needs no
// quoting (the scripts put them in plain word lists).
func TestCompletionScriptsSyntax(t *testing.T) {
	for k := argFiles; k <= argShells; k++ {
		for _, w := range append(argWords(k), verbNames()...) {
			if shellWord(w) != w {
				t.Errorf("word %q needs quoting", w)
			}
		}
	}
	var errOut bytes.Buffer
	if rc := writeCompletion(&bytes.Buffer{}, &errOut, "tcsh"); rc != 2 || !strings.Contains(errOut.String(), "bash, zsh, fish") {
		t.Errorf("tcsh: rc %d %q", rc, errOut.String())
	}
	for _, sh := range []struct{ name, flag string }{{"zsh", "-n"}, {"fish", "--no-execute"}} {
		t.Run(sh.name, func(t *testing.T) {
			var out bytes.Buffer
			if rc := writeCompletion(&out, &errOut, sh.name); rc != 0 || !strings.Contains(out.String(), "zeoctl") {
				t.Fatalf("rc %d", rc)
			}
			if _, err := exec.LookPath(sh.name); err != nil {
				t.Skipf("%s not installed", sh.name)
			}
			f := filepath.Join(t.TempDir(), "zdctl."+sh.name)
			if err := os.WriteFile(f, out.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command(sh.name, sh.flag, f).CombinedOutput(); err != nil {
				t.Fatalf("%s %s: %v\n%s", sh.name, sh.flag, err, msg)
			}
			if sh.name != "fish" {
				return
			}
			// fish can complete a line non-interactively.
			for line, want := range map[string]string{
				"zdctl -C x.conf kill TE": "TERM",
				"zeoctl sh":               "shell show",
				"zdctl show ":             "--json all options python",
				"zdctl --st":              "--start-timeout --stop-timeout",
				"zdctl -p x status -":     "--json -l",
			} {
				out, err := exec.Command("fish", "--no-config", "-c", "source "+f+"; complete -C '"+line+"'").Output()
				if err != nil {
					t.Fatalf("fish complete %q: %v", line, err)
				}
				got := strings.Fields(string(out))
				slices.Sort(got)
				if strings.Join(got, " ") != want {
					t.Errorf("fish %q: got %q want %q", line, got, want)
				}
			}
		})
	}
}
