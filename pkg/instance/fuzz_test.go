package instance

import (
	"testing"

	"github.com/zdkit/zdkit/pkg/zconfig"
)

// FuzzParseAddress checks that every address mkzeoinst accepts is one
// runzeo's configuration accepts too (zconfig's socket-binding-address),
// so a generated zeo.conf never fails on its address line.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"9999", "127.0.0.1:8100", "[::1]:8100", ":1", "/run/zeo.sock", "a b", "::1:80", "65536"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := ParseAddress(s)
		if err != nil {
			return
		}
		if addr == "" {
			t.Fatalf("ParseAddress(%q) accepted an empty address", s)
		}
		if _, err := zconfig.SocketBindingAddress.Convert(addr); err != nil {
			t.Fatalf("ParseAddress(%q) = %q, which zconfig refuses: %v", s, addr, err)
		}
	})
}
