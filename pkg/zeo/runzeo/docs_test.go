package runzeo

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/zdkit/zdkit/pkg/zconfig"
)

// docSections splits a markdown file into heading -> body.
func docSections(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secs := map[string][]string{}
	cur := ""
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if !inCode && strings.HasPrefix(line, "#") {
			cur = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		secs[cur] = append(secs[cur], line)
	}
	return secs
}

var backticked = regexp.MustCompile("`([^`]*)`")

// firstCells returns the backticked spans in the first cell of each
// table row (header and separator rows have none).
func firstCells(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "|") {
			continue
		}
		cells := strings.Split(l, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			out = append(out, m[1])
		}
	}
	return out
}

func sameSet(t *testing.T, what string, doc, real []string) {
	t.Helper()
	sort.Strings(doc)
	sort.Strings(real)
	doc = slices.Compact(doc)
	for _, d := range doc {
		if !slices.Contains(real, d) {
			t.Errorf("%s: docs/runzeo.md lists %q, which does not exist", what, d)
		}
	}
	for _, r := range real {
		if !slices.Contains(doc, r) {
			t.Errorf("%s: %q exists but docs/runzeo.md does not list it", what, r)
		}
	}
}

// TestDocsRunzeo: every flag, configuration key and signal docs/runzeo.md
// lists exists, and every one that exists is listed.
func TestDocsRunzeo(t *testing.T) {
	secs := docSections(t, "../../../docs/runzeo.md")

	// Flags: runzeo's option table.
	var doc, real []string
	for _, c := range firstCells(secs["Command line"]) {
		doc = append(doc, strings.Fields(c)[0])
	}
	for _, o := range parser().Options {
		if o.Short != 0 {
			real = append(real, "-"+string(o.Short))
		}
		if o.Long != "" {
			real = append(real, "--"+o.Long)
		}
	}
	if len(doc) < 10 {
		t.Fatalf("found only %d flags in the Command line table", len(doc))
	}
	sameSet(t, "flags", doc, real)

	// Signals.
	names := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP", syscall.SIGUSR2: "SIGUSR2"}
	real = nil
	for _, s := range handledSignals {
		n, ok := names[s.(syscall.Signal)]
		if !ok {
			t.Fatalf("signal %v has no name in this test", s)
		}
		real = append(real, n)
	}
	sameSet(t, "signals", firstCells(secs["Signals"]), real)

	// Configuration sections: zconfig.ZEOSchema's types.
	types := map[string]*zconfig.SectionType{
		"zeo": zconfig.ZEOType, "ssl": zconfig.SSLType,
		"filestorage": zconfig.FileStorageType, "mappingstorage": zconfig.MappingStorageType,
		"blobstorage": zconfig.BlobStorageType, "zeoclient": zconfig.ZEOClientType,
		"eventlog": zconfig.EventLogType, "logfile": zconfig.LogFileType,
	}
	// The <zeo> slot of the schema really holds ZEOType, and its <ssl>.
	if zconfig.ZEOSchema.Root.Sections[0].Types[0] != zconfig.ZEOType || zconfig.ZEOType.Sections[0].Types[0] != zconfig.SSLType {
		t.Fatal("ZEOSchema's layout changed; update this test")
	}
	for name, st := range types {
		heading := "`<" + name + ">`"
		lines, ok := secs[heading]
		if !ok {
			t.Errorf("docs/runzeo.md has no section %s", heading)
			continue
		}
		real = nil
		for _, k := range st.Keys {
			real = append(real, k.Name)
		}
		sameSet(t, "<"+name+">", firstCells(lines), real)
	}
	// Every storage type of the schema is at least named.
	all, _ := os.ReadFile("../../../docs/runzeo.md")
	for _, st := range zconfig.StorageTypes {
		if !strings.Contains(string(all), "`<"+st.Name+">`") {
			t.Errorf("storage type <%s> is not mentioned in docs/runzeo.md", st.Name)
		}
	}
}
