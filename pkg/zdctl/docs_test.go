package zdctl

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/control"
	"github.com/zdkit/zdkit/pkg/runner"
	"github.com/zdkit/zdkit/pkg/supervisor"
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

// TestDocsZdctlLineLimit: the default of control-line-limit in the Options
// table is the limit zdrun's control server applies (docs/zdctl.md once
// said 10240 while pkg/control enforced 10000).
func TestDocsZdctlLineLimit(t *testing.T) {
	raw, err := os.ReadFile("../../docs/zdctl.md")
	if err != nil {
		t.Fatal(err)
	}
	opts := docSection(t, string(raw), "Options")
	keys, defaults := tableColumn(opts, 1), tableColumn(opts, 2)
	i := slices.Index(keys, " `control-line-limit` ")
	if i < 0 {
		t.Fatalf("no control-line-limit row in the Options table: %q", keys)
	}
	if got, want := strings.TrimSpace(defaults[i]), strconv.Itoa(control.MaxCommand); got != want {
		t.Errorf("docs/zdctl.md: control-line-limit default %q, code %q", got, want)
	}
}

// TestDocsZdctlExitCodes: the Exit codes table's row for 4 lists exactly
// the verbs that answer a refusing socket with ExitDenied.
func TestDocsZdctlExitCodes(t *testing.T) {
	raw, err := os.ReadFile("../../docs/zdctl.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := docSection(t, string(raw), "Exit codes")
	codes, whens := tableColumn(lines, 0), tableColumn(lines, 1)
	i := slices.Index(codes, " "+strconv.Itoa(ExitDenied)+" ")
	if i < 0 {
		t.Fatalf("no row for exit %d in %q", ExitDenied, codes)
	}
	var docVerbs []string
	for _, m := range reCode.FindAllStringSubmatch(whens[i], -1) {
		docVerbs = append(docVerbs, m[1])
	}
	var verbs []string
	for v := range managerVerbs {
		verbs = append(verbs, v)
	}
	if got, want := uniqueSorted(docVerbs), uniqueSorted(verbs); !slices.Equal(got, want) {
		t.Errorf("exit %d row lists %q, code has %q", ExitDenied, got, want)
	}
}

// TestZdkitHelpCoversAdditions: "zdctl -h" and "help" print zdaemon 5.2.1's
// texts unchanged, so every option and verb zdkit adds must be explained
// by "help zdkit" instead: each zdctl and zdrun flag appears in Usage or
// ZdkitHelp, each verb in the "help" listing or ZdkitHelp.
func TestZdkitHelpCoversAdditions(t *testing.T) {
	mentioned := func(flag string) bool {
		re := regexp.MustCompile(`(^|[\s/(,])` + regexp.QuoteMeta(flag) + `\b`)
		return re.MatchString(Usage) || re.MatchString(ZdkitHelp)
	}
	for _, mode := range []runner.Mode{runner.Zdctl, runner.Zdrun} {
		for _, o := range runner.OptionTable(mode) {
			if o.Short != 0 && !mentioned("-"+string(o.Short)) {
				t.Errorf("-%c is neither in zdctl -h nor in help zdkit", o.Short)
			}
			if o.Long != "" && o.Short == 0 && !mentioned("--"+o.Long) {
				t.Errorf("--%s is neither in zdctl -h nor in help zdkit", o.Long)
			}
		}
	}
	if !mentioned(supervisor.MetricsFlag) {
		t.Errorf("%s is not in help zdkit", supervisor.MetricsFlag)
	}
	var listing, help bytes.Buffer
	c := &Controller{Stdout: &listing}
	c.doHelp("")
	c.Stdout = &help
	c.doHelp(zdkitTopic)
	if help.String() != ZdkitHelp {
		t.Errorf("help zdkit printed %q", help.String())
	}
	listed := strings.Fields(listing.String())
	for _, cmd := range commands {
		if inListing := slices.Contains(listed, cmd.name); inListing == zdkitVerbs[cmd.name] {
			t.Errorf("verb %q: in the help listing %v, zdkit's own %v", cmd.name, inListing, zdkitVerbs[cmd.name])
		}
		if zdkitVerbs[cmd.name] && !regexp.MustCompile(`(?m)^`+cmd.name+` `).MatchString(ZdkitHelp) {
			t.Errorf("zdkit's verb %q is not explained by help zdkit", cmd.name)
		}
	}
}
