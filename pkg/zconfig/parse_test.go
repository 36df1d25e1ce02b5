package zconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func parseString(t *testing.T, text string, opts ParseOptions) *Section {
	t.Helper()
	root, err := Parse(strings.NewReader(text), "", opts)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func values(s *Section) [][2]string {
	var out [][2]string
	for _, kv := range s.Values {
		out = append(out, [2]string{kv.Key, kv.Value})
	}
	return out
}

func TestSyntax(t *testing.T) {
	text := "# comment\n" +
		"   # indented comment\n" +
		"\n" +
		"Key   value with  spaces   \n" +
		"empty\n" +
		"multi 1\nmulti 2\n" +
		"<Section-Type Name>\n" +
		"  inner x\n" +
		"  <nested/>\n" +
		"  <nested two />\n" +
		"</SECTION-TYPE>\n" +
		"<empty/>\n" +
		"key(paren\n"
	root := parseString(t, text, ParseOptions{})
	want := [][2]string{{"Key", "value with  spaces"}, {"empty", ""}, {"multi", "1"}, {"multi", "2"}, {"key", "(paren"}}
	if got := values(root); !reflect.DeepEqual(got, want) {
		t.Errorf("values = %q, want %q", got, want)
	}
	if len(root.Sections) != 2 {
		t.Fatalf("%d sections", len(root.Sections))
	}
	s := root.Sections[0]
	if s.Type != "section-type" || s.Name != "name" || s.Pos.Line != 8 {
		t.Errorf("section = %q %q line %d", s.Type, s.Name, s.Pos.Line)
	}
	if len(s.Sections) != 2 || s.Sections[0].Type != "nested" || s.Sections[0].Name != "" || s.Sections[1].Name != "two" {
		t.Errorf("nested empty sections wrong: %+v", s.Sections)
	}
	if got := values(s); !reflect.DeepEqual(got, [][2]string{{"inner", "x"}}) {
		t.Errorf("inner values = %q", got)
	}
	if root.Sections[1].Type != "empty" {
		t.Errorf("empty section %+v", root.Sections[1])
	}
}

func TestLineEndings(t *testing.T) {
	// A UTF-8 byte-order mark, CRLF and lone CR line ends (Python's
	// universal newlines) all read the same.
	for _, text := range []string{
		"\xef\xbb\xbfa 1\r\n<s>\r\nb 2\r\n</s>\r\n",
		"a 1\r<s>\rb 2\r</s>\r",
		"a 1\n<s>\nb 2\n</s>",
	} {
		root := parseString(t, text, ParseOptions{})
		if got := values(root); !reflect.DeepEqual(got, [][2]string{{"a", "1"}}) {
			t.Errorf("%q: values %q", text, got)
		}
		if len(root.Sections) != 1 || values(root.Sections[0])[0] != [2]string{"b", "2"} || root.Sections[0].Pos.Line != 2 {
			t.Errorf("%q: section wrong", text)
		}
	}
}

func TestSubstitution(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == "ZDKIT_HOME" {
			return "/srv/zd", true
		}
		return "", false
	}
	text := "%define Home /srv/zeo\n" +
		"%define empty\n" +
		"%define port 8100\n" +
		"%define addr localhost:$port\n" +
		"a $home/var\n" +
		"b ${HOME}var\n" +
		"c $(ZDKIT_HOME)/x\n" +
		"d $$5 and $$(x)\n" +
		"e [$empty]\n" +
		"f $addr\n" +
		"g $home$port\n"
	root := parseString(t, text, ParseOptions{Env: env})
	want := [][2]string{{"a", "/srv/zeo/var"}, {"b", "/srv/zeovar"}, {"c", "/srv/zd/x"}, {"d", "$5 and $(x)"},
		{"e", "[]"}, {"f", "localhost:8100"}, {"g", "/srv/zeo8100"}}
	if got := values(root); !reflect.DeepEqual(got, want) {
		t.Errorf("values = %q\nwant %q", got, want)
	}
	// Predefined names, as a caller can supply them.
	root = parseString(t, "x $instance_home/etc\n", ParseOptions{Defines: map[string]string{"INSTANCE_HOME": "/i"}})
	if got := values(root); got[0][1] != "/i/etc" {
		t.Errorf("predefined: %q", got)
	}
	// Redefining with the same value is allowed, as in ZConfig.
	parseString(t, "%define a 1\n%define A 1\n", ParseOptions{})

	// The process environment is the default for $(NAME).
	t.Setenv("ZDKIT_TEST_ENV", "from-env")
	root = parseString(t, "v $(ZDKIT_TEST_ENV)\n", ParseOptions{})
	if got := values(root); got[0][1] != "from-env" {
		t.Errorf("environment: %q", got)
	}
}

func TestSubstitutionLimits(t *testing.T) {
	text := "%define a " + strings.Repeat("x", 4096) + "\n" +
		"%define b $a$a$a$a$a$a$a$a$a$a$a$a$a$a$a$a\n" + // 64 KiB
		"%define c $b$b\n"
	_, err := Parse(strings.NewReader(text), "", ParseOptions{})
	wantErr(t, err, ErrSubstitution, "value longer than 65536 bytes after substitution (line 3)", "")
	text = "%define a " + strings.Repeat("x", 60000) + "\n" + strings.Repeat("k $a\n", 300)
	_, err = Parse(strings.NewReader(text), "", ParseOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "substitutions produce more than 16777216 bytes in all (line 281)") {
		t.Errorf("expansion budget: %v", err)
	}
}

func TestIncludeAndImport(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"main.conf":          "%import ZEO\n%define base /b\n<runner>\n %include conf.d/runner.conf\n</runner>\n%include conf.d/log.conf\n%import relstorage\n",
		"conf.d/runner.conf": "program $base/prog\n%include more.conf\n",
		"conf.d/more.conf":   "%define late yes\ndaemon $late\n",
		"conf.d/log.conf":    "<eventlog>\n level $late\n</eventlog>\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := ParseFile(filepath.Join(dir, "main.conf"), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(root.Imports, []string{"ZEO", "relstorage"}) {
		t.Errorf("imports %q", root.Imports)
	}
	r := root.Sections[0]
	if got := values(r); !reflect.DeepEqual(got, [][2]string{{"program", "/b/prog"}, {"daemon", "yes"}}) {
		t.Errorf("runner values %q", got)
	}
	// Positions name the included file.
	if r.Values[1].Pos.File != filepath.Join(dir, "conf.d/more.conf") || r.Values[1].Pos.Line != 2 {
		t.Errorf("position of an included value: %+v", r.Values[1].Pos)
	}
	// Defines from an included file stay defined afterwards (ZConfig
	// shares one define table per load).
	if ev := root.Sections[1]; ev.Type != "eventlog" || values(ev)[0][1] != "yes" {
		t.Errorf("eventlog %+v", ev)
	}
	// An included file must balance its own sections.
	if err := os.WriteFile(filepath.Join(dir, "open.conf"), []byte("<runner>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(strings.NewReader("%include open.conf\n</runner>\n"), filepath.Join(dir, "x.conf"), ParseOptions{})
	wantErr(t, err, ErrUnterminated, "unclosed sections not allowed\n(line 1 in PATH)", filepath.Join(dir, "open.conf"))
}

func TestParseLimits(t *testing.T) {
	deep := strings.Repeat("<a>\n", MaxNesting+1) + strings.Repeat("</a>\n", MaxNesting+1)
	_, err := Parse(strings.NewReader(deep), "", ParseOptions{})
	wantErr(t, err, ErrSyntax, "sections nested more than 256 levels deep (line 257)", "")

	// A long %include chain stops at MaxIncludeDepth.
	opts := ParseOptions{ReadFile: func(path string) ([]byte, error) {
		return []byte("%include " + filepath.Base(path) + "x\n"), nil
	}}
	_, err = Parse(strings.NewReader("%include f\n"), "/c/main", opts)
	if err == nil || !strings.HasPrefix(err.Error(), "%include nested more than 64 levels deep: /c/f"+strings.Repeat("x", 63)) {
		t.Errorf("include depth: %v", err)
	}
}
