package zdctl

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/zdkit/zdkit/pkg/linereader"
)

// prompt is the "prompt" option or zdaemon's default: the program's
// base name without ".py", plus ">"; the shell adds a space.
func (c *Controller) prompt() string {
	p := c.Opts.Prompt
	if p == "" {
		p = strings.TrimSuffix(filepath.Base(c.argv0), ".py") + ">"
	}
	return p + " "
}

func (c *Controller) historyFile() string {
	if c.Opts.HistoryFile != "" {
		return c.Opts.HistoryFile
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".zdctl_history")
	}
	return ""
}

// Shell is the interactive loop (the 2003 zdctl's ZDCmd shell): "program: ..." and the
// status, then one command per line. A blank line repeats the last
// command (status when there is none yet); only EOF and quit leave.
func (c *Controller) Shell() {
	lr, err := linereader.New(linereader.Config{
		In: c.Stdin, Out: c.Stdout, HistoryFile: c.historyFile(), Complete: c.complete,
	})
	if err != nil {
		lr = linereader.NewPlain(c.Stdin, c.Stdout)
	}
	defer lr.Close()
	c.printf("program: %s\n", strings.Join(c.Opts.Program, " "))
	c.doStatus("")
	for {
		c.drainInterrupts()
		line, err := lr.ReadLine(c.prompt())
		if errors.Is(err, linereader.ErrInterrupt) {
			continue
		}
		if errors.Is(err, io.EOF) {
			line = "EOF"
		} else if err != nil {
			line = "EOF"
		}
		if strings.TrimSpace(line) == "" {
			line = c.last
		} else if line != "EOF" {
			c.last = line
		}
		if _, leave := c.OneCmd(line); leave {
			return
		}
	}
}
