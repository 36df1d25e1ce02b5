package zdctl

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/runner"
)

// docSection returns the lines of the "## title" section of a Markdown file.
func docSection(t *testing.T, doc, title string) []string {
	t.Helper()
	var out []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			in = strings.TrimPrefix(line, "## ") == title
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no section %q", title)
	}
	return out
}

// tableColumn returns column i (0-based) of the table rows in lines,
// header and separator rows skipped; escaped pipes stay in the cell.
func tableColumn(lines []string, i int) []string {
	var out []string
	for _, line := range lines {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.ReplaceAll(line, `\|`, "\x00"), "|")
		if len(cells) > i+1 {
			out = append(out, strings.ReplaceAll(cells[i+1], "\x00", "|"))
		}
	}
	return out[1:] // the header row
}

var (
	reCode = regexp.MustCompile("`([^`]*)`")
	reFlag = regexp.MustCompile(`(?:^|[\s/,])(--[a-z][a-z-]*|-[A-Za-z])\b`)
)

func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// TestDocsZdctl: docs/zdctl.md lists every verb of the command table,
// every option of runner.OptionTable and every <runner> key of the schema,
// and nothing else: the reference is checked against the code.
func TestDocsZdctl(t *testing.T) {
	raw, err := os.ReadFile("../../docs/zdctl.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	// Options table: column 1 the flags, column 2 the <runner> keys.
	opts := docSection(t, doc, "Options")
	var docFlags, docKeys []string
	for _, cell := range tableColumn(opts, 0) {
		for _, m := range reCode.FindAllStringSubmatch(cell, -1) {
			for _, f := range reFlag.FindAllStringSubmatch(m[1], -1) {
				docFlags = append(docFlags, f[1])
			}
		}
	}
	for _, cell := range tableColumn(opts, 1) {
		for _, m := range reCode.FindAllStringSubmatch(cell, -1) {
			docKeys = append(docKeys, m[1])
		}
	}
	var flags []string
	for _, o := range runner.OptionTable(runner.Zdctl) {
		if o.Short != 0 {
			flags = append(flags, "-"+string(o.Short))
		}
		if o.Long != "" {
			flags = append(flags, "--"+o.Long)
		}
	}
	docFlags, flags = uniqueSorted(docFlags), uniqueSorted(flags)
	if d := setDiff(flags, docFlags); len(d) > 0 {
		t.Errorf("options missing from docs/zdctl.md: %q", d)
	}
	if d := setDiff(docFlags, flags); len(d) > 0 {
		t.Errorf("docs/zdctl.md lists options zdctl does not have: %q", d)
	}
	keys := uniqueSorted(runner.RunnerSectionKeys())
	docKeys = uniqueSorted(docKeys)
	if d := setDiff(keys, docKeys); len(d) > 0 {
		t.Errorf("<runner> keys missing from docs/zdctl.md: %q", d)
	}
	if d := setDiff(docKeys, keys); len(d) > 0 {
		t.Errorf("docs/zdctl.md lists <runner> keys the schema does not have: %q", d)
	}
	// Parse reads every schema key (none is accepted and then dropped
	// without the docs saying so), except those it leaves to zdrun.
	if d := setDiff(keys, uniqueSorted(append(runner.RunnerKeys(), runner.ZdrunKeys...))); len(d) > 0 {
		t.Errorf("schema keys runner.Parse does not read: %q", d)
	}

	// Actions table: the first word of each code span in column 1.
	var docVerbs []string
	for _, cell := range tableColumn(docSection(t, doc, "Actions"), 0) {
		for _, m := range reCode.FindAllStringSubmatch(cell, -1) {
			w := strings.Fields(m[1])
			if len(w) > 0 && !strings.HasPrefix(w[0], "!") {
				docVerbs = append(docVerbs, w[0])
			}
		}
	}
	docVerbs = uniqueSorted(docVerbs)
	verbs := uniqueSorted(verbNames())
	if d := setDiff(verbs, docVerbs); len(d) > 0 {
		t.Errorf("verbs missing from docs/zdctl.md: %q", d)
	}
	if d := setDiff(docVerbs, verbs); len(d) > 0 {
		t.Errorf("docs/zdctl.md lists verbs zdctl does not have: %q", d)
	}
	if len(docFlags) < 30 || len(docKeys) < 20 || len(docVerbs) < 18 {
		t.Errorf("too few found (flags %d, keys %d, verbs %d): is the table parsing broken?", len(docFlags), len(docKeys), len(docVerbs))
	}
}
