package supervisor

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/zdkit/zdkit/pkg/runner"
)

// The user manual, docs/zdrun.md, must list exactly what zdrun has: its
// options, the control-socket commands and the signals it handles, checked in
// both directions so that neither can drift from the other.

func zdrunDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/zdrun.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the text of the "## title" section, up to the next "## ".
func section(t *testing.T, doc, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n## "+title+"\n")
	if !ok {
		t.Fatalf("docs/zdrun.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// firstColumn returns the code spans of the first cell of every table row
// after the header.
func firstColumn(text string) []string {
	var out []string
	rows := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		rows++
		if rows == 1 {
			continue
		}
		cell := strings.Split(line, "|")[1]
		for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(cell, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func sortedSet(xs []string) []string {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return slices.Compact(xs)
}

func TestDocsZdrunOptions(t *testing.T) {
	text := section(t, zdrunDoc(t), "Options")
	// Every code span of the section that starts with a dash names
	// options: the list "`-C -X ...`" and the flags of the additions table.
	var documented []string
	for _, m := range regexp.MustCompile("`(-[^`]*)`").FindAllStringSubmatch(text, -1) {
		for _, w := range strings.Fields(m[1]) {
			if strings.HasPrefix(w, "-") {
				documented = append(documented, w)
			}
		}
	}
	var have []string
	for _, o := range runner.OptionTable(runner.Zdrun) {
		if o.Short != 0 {
			have = append(have, "-"+string(o.Short))
		}
		if o.Long != "" && o.Short == 0 {
			// Long forms of short options are not repeated in the doc.
			have = append(have, "--"+o.Long)
		}
	}
	have = append(have, MetricsFlag)
	have, documented = sortedSet(have), sortedSet(documented)
	if !slices.Equal(have, documented) {
		t.Errorf("docs/zdrun.md options %q, zdrun has %q", documented, have)
	}
}

func TestDocsZdrunCommands(t *testing.T) {
	s, err := New(Config{Program: []string{"true"}, Filename: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	have := []string{"help"} // answered by pkg/control itself
	for name := range s.cmds {
		have = append(have, name)
	}
	var documented []string
	for _, span := range firstColumn(section(t, zdrunDoc(t), "Control socket")) {
		documented = append(documented, strings.Fields(span)[0])
	}
	have, documented = sortedSet(have), sortedSet(documented)
	if !slices.Equal(have, documented) {
		t.Errorf("docs/zdrun.md control commands %q, zdrun has %q", documented, have)
	}
}

func TestDocsZdrunSignals(t *testing.T) {
	text := section(t, zdrunDoc(t), "Signals to zdrun")
	var documented []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "| SIG") {
			continue
		}
		for _, name := range strings.Split(strings.Split(line, "|")[1], ",") {
			documented = append(documented, strings.TrimSpace(name))
		}
	}
	var have []string
	for _, sig := range StopSignals {
		switch sig {
		case syscall.SIGTERM:
			have = append(have, "SIGTERM")
		case syscall.SIGINT:
			have = append(have, "SIGINT")
		case syscall.SIGHUP:
			have = append(have, "SIGHUP")
		case syscall.SIGUSR1:
			have = append(have, "SIGUSR1")
		case syscall.SIGUSR2:
			have = append(have, "SIGUSR2")
		default:
			t.Errorf("zdrun handles %v, which this test does not know", sig)
		}
	}
	have, documented = sortedSet(have), sortedSet(documented)
	if !slices.Equal(have, documented) {
		t.Errorf("docs/zdrun.md signals %q, zdrun handles %q", documented, have)
	}
}
