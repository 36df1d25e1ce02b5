package instance

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocListsEveryOption checks docs/mkzeoinst.md against the command:
// every option it documents exists, every option that exists is
// documented, and so are the files Render writes.
func TestDocListsEveryOption(t *testing.T) {
	data, err := os.ReadFile("../../docs/mkzeoinst.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`(--?[a-z][a-z-]*)`").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	exists := map[string]bool{"-h": true}
	for _, l := range LongOptions {
		exists["--"+l] = true
	}
	for o := range exists {
		if !documented[o] {
			t.Errorf("option %s is not documented", o)
		}
	}
	// Options table rows: "| `-x`, `--y` | ...".
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		cell := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`(--?[a-z-]+)`").FindAllStringSubmatch(cell, -1) {
			if !exists[m[1]] {
				t.Errorf("documented option %s does not exist", m[1])
			}
		}
	}
	files, err := Render("/h", "9999", Programs{Zdctl: "/a", Zdrun: "/b", Runzeo: "/c"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(doc, "| `"+f.Path+"` |") {
			t.Errorf("file %s has no row in the doc", f.Path)
		}
	}
	if !strings.Contains(UsageDoc, "Usage: mkzeoinst") || !strings.Contains(doc, "`Usage: mkzeoinst home [port]`") {
		t.Error("usage line missing from the doc")
	}
}
