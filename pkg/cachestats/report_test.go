package cachestats

import (
	"bytes"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zdkit/zdkit/pkg/zeo/cachetrace"
)

// cancelAfter cancels ctx once n bytes have been read through it.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n -= k
	if c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// Ctrl-C (a cancelled context) stops reading and reports what was read,
// as Python's KeyboardInterrupt handler does.
func TestInterrupted(t *testing.T) {
	var trace bytes.Buffer
	if err := cachetrace.Generate(&trace, 300_000, 3); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	in := &cancelAfter{r: bytes.NewReader(trace.Bytes()), n: 1 << 20, cancel: cancel}
	if err := Report(ctx, in, &out, Options{Quiet: true, Interval: 900}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "\nInterrupted.  Stats so far:\n\n") {
		t.Fatalf("no interruption notice:\n%s", s)
	}
	m := regexp.MustCompile(`Read ([0-9,]+) trace records`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no summary:\n%s", s)
	}
	n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if n <= 0 || n >= 300_000 {
		t.Errorf("read %d records", n)
	}
}

func TestEmptyIsError(t *testing.T) {
	var out bytes.Buffer
	err := Report(context.Background(), bytes.NewReader(nil), &out, Options{Interval: 900})
	if !errors.Is(err, ErrNoRecords) {
		t.Fatalf("err %v", err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], "0       0       0       0     n/a") {
		t.Errorf("output %q", out.String())
	}
}

func TestPyBytesRepr(t *testing.T) {
	for in, want := range map[string]string{
		"":           "b''",
		"ab":         "b'ab'",
		"a'b":        `b"a'b"`,
		"a'b\"":      `b'a\'b"'`,
		"\x00\t\xff": `b'\x00\t\xff'`,
		"\\":         `b'\\'`,
	} {
		if got := string(AppendPyBytesRepr(nil, []byte(in))); got != want {
			t.Errorf("repr(%q) = %s, want %s", in, got, want)
		}
	}
}
