package linereader

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/chzyer/readline"
	"golang.org/x/sys/unix"
)

// ErrInterrupt is returned by ReadLine when Ctrl-C was typed at the prompt.
var ErrInterrupt = errors.New("interrupted")

// LineReader reads one line after showing a prompt.
type LineReader interface {
	// ReadLine shows prompt and returns the line without its newline.
	ReadLine(prompt string) (string, error)
	Close() error
}

// Completer proposes completions for the word ending at the cursor:
// line is the text before the cursor; it returns full candidate words
// for the last (possibly empty) word of line.
type Completer func(line string) []string

// Config configures New.
type Config struct {
	In          *os.File
	Out         io.Writer
	HistoryFile string    // "" for none (terminal only)
	Complete    Completer // nil for none (terminal only)
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// New returns a readline-backed reader when cfg.In is a terminal, a plain
// one otherwise.
func New(cfg Config) (LineReader, error) {
	if cfg.In != nil && IsTerminal(cfg.In) {
		// Raw mode is set on cfg.In itself; readline's defaults would
		// use the process's fd 0 whatever Stdin says.
		fd := int(cfg.In.Fd())
		var saved *readline.State
		rl, err := readline.NewEx(&readline.Config{
			FuncIsTerminal: func() bool { return true },
			FuncMakeRaw: func() error {
				st, err := readline.MakeRaw(fd)
				saved = st
				return err
			},
			FuncExitRaw: func() error {
				if saved == nil {
					return nil
				}
				return readline.Restore(fd, saved)
			},
			HistoryFile:       cfg.HistoryFile,
			AutoComplete:      autoComplete(cfg.Complete),
			InterruptPrompt:   "^C",
			EOFPrompt:         "",
			HistorySearchFold: true,
			Stdin:             cfg.In,
			// A terminal that reports no size (a bare pty) would
			// disable completion altogether in readline.
			FuncGetWidth: func() int {
				if ws, err := unix.IoctlGetWinsize(int(cfg.In.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
					return int(ws.Col)
				}
				return 80
			},
			Stdout: writerOr(cfg.Out),
		})
		if err != nil {
			return nil, err
		}
		return &term{rl: rl}, nil
	}
	var in io.Reader = os.Stdin
	if cfg.In != nil {
		in = cfg.In
	}
	return NewPlain(in, writerOr(cfg.Out)), nil
}

func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return os.Stdout
	}
	return w
}

// NewPlain reads lines from r, writing prompts to w.
func NewPlain(r io.Reader, w io.Writer) LineReader {
	return &plain{r: bufio.NewReader(r), w: w}
}

type plain struct {
	r *bufio.Reader
	w io.Writer
}

func (p *plain) ReadLine(prompt string) (string, error) {
	io.WriteString(p.w, prompt)
	line, err := p.r.ReadString('\n')
	if err != nil && line == "" {
		return "", io.EOF
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func (p *plain) Close() error { return nil }

type term struct{ rl *readline.Instance }

func (t *term) ReadLine(prompt string) (string, error) {
	t.rl.SetPrompt(prompt)
	line, err := t.rl.Readline()
	switch {
	case errors.Is(err, readline.ErrInterrupt):
		return "", ErrInterrupt
	case err != nil:
		return "", io.EOF
	}
	return line, nil
}

func (t *term) Close() error { return t.rl.Close() }

type completer struct{ f Completer }

func autoComplete(f Completer) readline.AutoCompleter {
	if f == nil {
		return nil
	}
	return completer{f}
}

// Do adapts a Completer to readline: it returns the candidates' suffixes
// after the word being completed, and that word's length.
func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	before := string(line[:pos])
	word := before
	if i := strings.LastIndexAny(before, " \t"); i >= 0 {
		word = before[i+1:]
	}
	var out [][]rune
	for _, cand := range c.f(before) {
		if strings.HasPrefix(cand, word) {
			out = append(out, []rune(cand[len(word):]))
		}
	}
	return out, len([]rune(word))
}
