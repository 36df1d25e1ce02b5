// Package linereader reads the command lines of an interactive shell
// (zdctl's "zdctl>" prompt; the 2003 zdctl's cmd.Cmd shell) from one of two sources
// behind one small interface:
//
//   - a terminal: github.com/chzyer/readline, with line editing, a
//     history file and TAB completion supplied by the caller (zdaemon's
//     seed shell used GNU readline, with in-session history only);
//   - anything else (a pipe, a file): plain line reading, the prompt
//     written without a newline, as Python's cmd.Cmd does when stdin is
//     not a tty, so that a script piped into zdctl works.
//
// ReadLine returns io.EOF at the end of input (Ctrl-D) and ErrInterrupt
// when Ctrl-C is typed at the prompt.
package linereader
