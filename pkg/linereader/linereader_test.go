package linereader

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestPlain(t *testing.T) {
	var out strings.Builder
	r := NewPlain(strings.NewReader("status\r\n\nstop"), &out)
	var got []string
	for {
		line, err := r.ReadLine("zdctl> ")
		if errors.Is(err, io.EOF) {
			break
		}
		got = append(got, line)
	}
	if strings.Join(got, "|") != "status||stop" {
		t.Errorf("lines %q", got)
	}
	if out.String() != "zdctl> zdctl> zdctl> zdctl> " {
		t.Errorf("prompts %q", out.String())
	}
}

func TestNewOnPipeIsPlain(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	pw.WriteString("help\n")
	pw.Close()
	var out strings.Builder
	r, err := New(Config{In: pr, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.(*plain); !ok {
		t.Fatalf("got %T for a pipe, want the plain reader", r)
	}
	line, err := r.ReadLine("> ")
	if line != "help" || err != nil || IsTerminal(pr) {
		t.Errorf("line %q err %v", line, err)
	}
}

func TestCompleterDo(t *testing.T) {
	c := completer{func(line string) []string {
		if !strings.Contains(line, " ") {
			return []string{"start", "status", "stop", "show"}
		}
		return []string{"options", "python", "all"}
	}}
	got, n := c.Do([]rune("sta"), 3)
	if n != 3 || len(got) != 2 || string(got[0]) != "rt" || string(got[1]) != "tus" {
		t.Errorf("verbs: %q %d", got, n)
	}
	got, n = c.Do([]rune("show p"), 6)
	if n != 1 || len(got) != 1 || string(got[0]) != "ython" {
		t.Errorf("args: %q %d", got, n)
	}
}
