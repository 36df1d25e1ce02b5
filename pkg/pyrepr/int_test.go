package pyrepr

import (
	"errors"
	"testing"
)

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		s    string
		base int
		want int64
		ok   bool
	}{
		{"10", 10, 10, true}, {" 10\n", 10, 10, true}, {"+5", 10, 5, true}, {"-5", 10, -5, true},
		{"1_000", 10, 1000, true}, {"010", 10, 10, true}, {"0x1a", 0, 26, true}, {"0X1A", 0, 26, true},
		{"0o17", 0, 15, true}, {"0b101", 0, 5, true}, {"0x_1f", 0, 31, true}, {"000", 0, 0, true},
		{"26", 0, 26, true}, {"-0x10", 0, -16, true},
		{"010", 0, 0, false}, {"0x", 0, 0, false}, {"1__0", 10, 0, false}, {"_1", 10, 0, false},
		{"1_", 10, 0, false}, {"", 10, 0, false}, {"x", 0, 0, false}, {"0x1a", 10, 0, false},
		{"99999999999999999999", 10, 0, false},
	} {
		got, err := ParseInt(tc.s, tc.base)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseInt(%q, %d) = %d, %v; want %d", tc.s, tc.base, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInt) {
			t.Errorf("ParseInt(%q, %d) = %d, %v; want an error", tc.s, tc.base, got, err)
		}
	}
	_, err := ParseInt("010", 0)
	if err == nil || err.Error() != "invalid literal for int() with base 0: '010'" {
		t.Errorf("error text %v", err)
	}
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"10", "0x1a", "-0b1", "1_0", " 7 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseInt(s, 0)
		if err == nil && v < 0 && s == "" {
			t.Errorf("empty parsed")
		}
	})
}
