package pyrepr

import (
	"errors"
	"reflect"
	"testing"
)

func TestStrRoundTrip(t *testing.T) {
	cases := []struct{ in, want string }{
		{"sleep", `'sleep'`},
		{"", `''`},
		{"it's", `"it's"`},
		{`it's "x"`, `'it\'s "x"'`},
		{`say "hi"`, `'say "hi"'`},
		{`a\b`, `'a\\b'`},
		{"tab\tnl\ncr\r", `'tab\tnl\ncr\r'`},
		{"\x00\x1b\x7f", `'\x00\x1b\x7f'`},
		{"café", `'café'`},
		{"\u00a0\u00ad", `'\xa0\xad'`},
		{"\u200b", `'\u200b'`},
		{"\U000e0001", `'\U000e0001'`},
		{"\U0001F600", "'\U0001F600'"},
		{"bad\xffbyte", `'bad\udcffbyte'`},
	}
	for _, c := range cases {
		if got := Str(c.in); got != c.want {
			t.Errorf("Str(%q) = %s, want %s", c.in, got, c.want)
		}
		back, err := ParseList("[" + c.want + "]")
		if err != nil || len(back) != 1 || back[0] != c.in {
			t.Errorf("ParseList([%s]) = %q, %v; want [%q]", c.want, back, err, c.in)
		}
	}
	if got := List([]string{"sleep", "100"}); got != `['sleep', '100']` {
		t.Errorf("List = %s", got)
	}
	if got := List(nil); got != `[]` {
		t.Errorf("List(nil) = %s", got)
	}
}

func TestParseList(t *testing.T) {
	good := map[string][]string{
		`[]`:                       {},
		` [ 'a' , "b", ] `:         {"a", "b"},
		`['sleep', '100']`:         {"sleep", "100"},
		`['"a', "'b"]`:             {`"a`, `'b`},
		`['\x41\u0042\U00000043']`: {"ABC"},
	}
	for in, want := range good {
		got, err := ParseList(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseList(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{``, `[`, `['a'`, `['a' 'b']`, `[a]`, `['a\q']`, `['\x4']`, `['\ud800']`, `['a'] x`, "['a\nb']"} {
		_, err := ParseList(in)
		var pe *LiteralError
		if !errors.Is(err, ErrLiteral) || !errors.As(err, &pe) || pe.Literal != in {
			t.Errorf("ParseList(%q) error = %v, want a *LiteralError", in, err)
		}
	}
}

// FuzzParseList checks that the args= parser never panics and that
// whatever it accepts survives a List round trip.
func FuzzParseList(f *testing.F) {
	for _, s := range []string{`['sleep', '100']`, `[]`, `["it's", 'a\\b\x00\u200b\U0001f600']`, `['\udcff']`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		words, err := ParseList(lit)
		if err != nil {
			return
		}
		again, err := ParseList(List(words))
		if err != nil || !reflect.DeepEqual(again, words) {
			t.Fatalf("round trip of %q: %q, %v", words, again, err)
		}
	})
}
