package logging

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zconfig"
)

// TestDocsKeys: docs/logging.md names every key of <eventlog>,
// <logfile> and <syslog> (in the Keys tables, or under "Not supported"), and its Keys
// tables list only keys those sections have: the reference and the code
// are checked against each other in both directions.
func TestDocsKeys(t *testing.T) {
	raw, err := os.ReadFile("../../docs/logging.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	code := regexp.MustCompile("`([a-z][a-z-]*)`")
	var tableKeys []string
	mentioned := map[string]bool{}
	section := ""
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimPrefix(line, "## ")
		}
		if section != "Keys" && section != "Not supported" {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(line, -1) {
			mentioned[m[1]] = true
		}
		if section == "Keys" && strings.HasPrefix(line, "| `") {
			cell := strings.Split(line, "|")[1]
			for _, m := range code.FindAllStringSubmatch(cell, -1) {
				tableKeys = append(tableKeys, m[1])
			}
		}
	}
	var keys []string
	for _, st := range []*zconfig.SectionType{zconfig.EventLogType, zconfig.LogFileType, zconfig.SyslogType} {
		for _, k := range st.Keys {
			keys = append(keys, k.Name)
			if !mentioned[k.Name] {
				t.Errorf("<%s> key %q is not in docs/logging.md", st.Name, k.Name)
			}
		}
	}
	for _, k := range tableKeys {
		if !slices.Contains(keys, k) {
			t.Errorf("docs/logging.md lists key %q that <eventlog>/<logfile>/<syslog> do not have", k)
		}
	}
	if len(tableKeys) < 7 {
		t.Errorf("only %d keys found in the Keys tables", len(tableKeys))
	}
}
