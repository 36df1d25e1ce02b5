package pyrepr

import "testing"

// Expected values are what CPython 3.11 prints for repr() and ascii().
func TestStr(t *testing.T) {
	for _, c := range []struct{ in, repr, ascii string }{
		{"", "''", "''"},
		{"sleep", "'sleep'", "'sleep'"},
		{"it's", `"it's"`, `"it's"`},
		{`say "it's"`, `'say "it\'s"'`, `'say "it\'s"'`},
		{`a\b`, `'a\\b'`, `'a\\b'`},
		{"a\tb\nc\rd\x00\x7f", `'a\tb\nc\rd\x00\x7f'`, `'a\tb\nc\rd\x00\x7f'`},
		{"café", "'café'", `'caf\xe9'`},
		{"\u00a0\u200b", `'\xa0\u200b'`, `'\xa0\u200b'`},
		{"日本", "'日本'", `'\u65e5\u672c'`},
		{"\U0001f600", "'\U0001f600'", `'\U0001f600'`},
		{"a\xffb", `'a\udcffb'`, `'a\udcffb'`},
	} {
		if got := Str(c.in); got != c.repr {
			t.Errorf("Str(%q) = %s, want %s", c.in, got, c.repr)
		}
		if got := ASCII(c.in); got != c.ascii {
			t.Errorf("ASCII(%q) = %s, want %s", c.in, got, c.ascii)
		}
	}
}

func TestList(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, "[]"},
		{[]string{"sleep", "100"}, "['sleep', '100']"},
		{[]string{"it's", "x"}, `["it's", 'x']`},
	} {
		if got := List(c.in); got != c.want {
			t.Errorf("List(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
