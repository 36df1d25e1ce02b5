package control

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParseStatus checks that ParseStatus never panics and that a reply it
// formats itself parses back to the same pid and args.
func FuzzParseStatus(f *testing.F) {
	f.Add("status=running\nnow=1.5\nshould_be_up=1\ndelay=0\nbackoff=0\nlasttime=0\napplication=5\ntesting=0\nmanager=4\nbackofflimit=10\nfilename='/bin/x'\nargs=['x']\n")
	f.Add("application=99999999999999999999999\n")
	f.Fuzz(func(t *testing.T, reply string) {
		st, ok := ParseStatus(reply)
		if !ok {
			return
		}
		st2, ok2 := ParseStatus(st.Format())
		if !ok2 || st2.Application != st.Application {
			t.Fatalf("reformatted status lost the pid: %+v vs %+v", st2, st)
		}
	})
}

// FuzzReadCommandLimit checks the configurable line limit: never a panic,
// never a line over the limit, ErrTooLong (or a *TooLongError wrapping it)
// exactly when more than limit bytes come without a newline.
func FuzzReadCommandLimit(f *testing.F) {
	f.Add([]byte("status\n"), uint16(10))
	f.Add([]byte("status\n"), uint16(3))
	f.Add([]byte("abc"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		lim := int(limit)
		line, err := ReadCommandLimit(bytes.NewReader(data), lim)
		if lim < 1 {
			lim = MaxCommand
		}
		i := bytes.IndexByte(data, '\n')
		switch {
		case i >= 0 && i <= lim:
			if err != nil || line != string(data[:i]) {
				t.Fatalf("got %q, %v; want first line", line, err)
			}
		case len(data) > lim:
			if !errors.Is(err, ErrTooLong) {
				t.Fatalf("got %q, %v; want ErrTooLong", line, err)
			}
		default:
			if !errors.Is(err, ErrNotTerminated) {
				t.Fatalf("got %q, %v; want ErrNotTerminated", line, err)
			}
		}
	})
}
