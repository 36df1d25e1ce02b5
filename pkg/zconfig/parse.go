package zconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/regularfile"
)

// Section is one section of a parsed file, before any schema is applied.
// The root of a file is a Section with an empty Type.
type Section struct {
	Type string // lower-cased section type ("runner", "filestorage")
	Name string // lower-cased section name, "" when unnamed
	Pos  Pos    // where the section starts
	// End is the line of the closing tag (zero for an empty <type/>
	// section). ZConfig checks a section's contents when it reads that
	// tag, so errors about missing or re-used sections name this line.
	End      Pos
	Values   []KeyValue
	Sections []*Section
	// Imports lists the %import packages seen anywhere in the source
	// (set on the root only).
	Imports []string
}

// KeyValue is one "key value" line.
type KeyValue struct {
	Key   string // the key as written (case kept; schemas decide)
	Value string // after substitution; "" when the line had no value
	Pos   Pos
}

// ParseOptions changes how a source is parsed. The zero value reads the
// process environment for $(NAME) and starts with no defines.
type ParseOptions struct {
	// Env looks up $(NAME). Nil means os.LookupEnv.
	Env func(name string) (string, bool)
	// Defines are predefined %define names (lower-case keys).
	Defines map[string]string
	// ReadFile reads the main file of ParseFile and every %include. Nil
	// means the file system, accepting only regular files of at most
	// MaxFileSize bytes (an "%include /dev/zero" must not hang or eat
	// memory).
	ReadFile func(path string) ([]byte, error)
}

// Limits that keep hostile input from exhausting memory or the stack.
// ZConfig has none; real configurations are nowhere near them.
const (
	MaxFileSize     = 16 << 20 // bytes in one configuration file
	MaxIncludeDepth = 64       // nested %include levels
	MaxNesting      = 256      // nested sections
	MaxValueLen     = 1 << 16  // bytes in one value after substitution
	// MaxExpansion bounds the bytes all substitutions of one parse may
	// produce, so a chain of %defines that doubles at every step cannot
	// make a small file expand into gigabytes.
	MaxExpansion = 16 << 20
)

// readRegularFile is the default ParseOptions.ReadFile.
func readRegularFile(path string) ([]byte, error) {
	// A FIFO, device or socket is refused before anything can block on
	// it (ZConfig 4.3 hangs on "%include fifo").
	f, err := regularfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxFileSize {
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("file larger than %d bytes", MaxFileSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("file larger than %d bytes", MaxFileSize)}
	}
	return data, nil
}

// parser holds the state shared by a file and the files it includes:
// %define names are global to a parse, as in ZConfig.
type parser struct {
	opts    ParseOptions
	defines map[string]string
	files   []string // absolute paths being parsed, for cycle detection
	depth   int      // section nesting of the %include being parsed
	expand  int      // bytes produced by substitutions so far
	imports *[]string
}

// ParseFile parses the file at path.
func ParseFile(path string, opts ParseOptions) (*Section, error) {
	p := newParser(opts)
	root := &Section{Pos: Pos{File: path}}
	if err := p.parseFile(root, path, Pos{}); err != nil {
		return nil, err
	}
	root.Imports = *p.imports
	return root, nil
}

// Parse parses configuration text from r; name is used in messages and
// as the base for relative %include paths (its directory; the current
// directory when name has none).
func Parse(r io.Reader, name string, opts ParseOptions) (*Section, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, &Error{Kind: ErrInclude, Msg: fmt.Sprintf("error reading %s: %v", name, err), Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &Error{Kind: ErrInclude, Msg: fmt.Sprintf("error reading %s: larger than %d bytes", name, MaxFileSize)}
	}
	p := newParser(opts)
	root := &Section{Pos: Pos{File: name}}
	if abs, err := filepath.Abs(name); err == nil && name != "" {
		p.files = append(p.files, abs)
	}
	if err := p.parseText(root, data, name); err != nil {
		return nil, err
	}
	root.Imports = *p.imports
	return root, nil
}

func newParser(opts ParseOptions) *parser {
	p := &parser{opts: opts, defines: map[string]string{}, imports: new([]string)}
	for k, v := range opts.Defines {
		p.defines[strings.ToLower(k)] = v
	}
	if p.opts.Env == nil {
		p.opts.Env = os.LookupEnv
	}
	if p.opts.ReadFile == nil {
		p.opts.ReadFile = readRegularFile
	}
	return p
}

func (p *parser) parseFile(sect *Section, path string, from Pos) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	for _, f := range p.files {
		if f == abs {
			chain := append(append([]string(nil), p.files...), abs)
			return &Error{Kind: ErrInclude, Pos: from, Value: path,
				Msg: "%include cycle: " + strings.Join(chain, " -> ")}
		}
	}
	if len(p.files) >= MaxIncludeDepth {
		return &Error{Kind: ErrInclude, Pos: from, Value: path,
			Msg: fmt.Sprintf("%%include nested more than %d levels deep: %s", MaxIncludeDepth, path)}
	}
	data, err := p.opts.ReadFile(path)
	if err != nil {
		// ZConfig: "error opening file /x: [Errno 2] No such file or
		// directory: '/x'", naming the absolute path in both places (it
		// opens the normalised file: URL).
		msg := fmt.Sprintf("error opening file %s: %v", abs, describeOSError(absPathErr(err, abs)))
		return &Error{Kind: ErrInclude, Pos: from, Value: path, Msg: msg, Err: err}
	}
	p.files = append(p.files, abs)
	defer func() { p.files = p.files[:len(p.files)-1] }()
	return p.parseText(sect, data, path)
}

// absPathErr puts the absolute path into a *fs.PathError, so the
// Python-style "[Errno 2] ...: '/abs/x'" names the file as ZConfig does.
func absPathErr(err error, abs string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: abs, Err: pe.Err}
	}
	return err
}

// describeOSError gives the reason part of a file-system error without
// repeating the path the message already names.
// It follows Python's OSError text, "[Errno 2] No such file or directory:
// '/x'", which ZConfig prints.
func describeOSError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		var errno syscall.Errno
		if errors.As(pe.Err, &errno) {
			text := errno.Error()
			if text != "" {
				text = strings.ToUpper(text[:1]) + text[1:]
			}
			return fmt.Sprintf("[Errno %d] %s: %s", int(errno), text, pyrepr.Str(pe.Path))
		}
		return pe.Err.Error() + ": " + pyrepr.Str(pe.Path)
	}
	return err.Error()
}

type openSection struct {
	sect   *Section
	parent *Section
}

// splitLines splits on the universal newlines Python's text mode reads
// (\n, \r\n and a lone \r).
func splitLines(data []byte) []string {
	s := string(data)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func (p *parser) parseText(top *Section, data []byte, file string) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 BOM is not part of the first key
	var stack []openSection
	cur := top
	lines := splitLines(data)
	for i, raw := range lines {
		pos := Pos{File: file, Line: i + 1}
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#':
			// blank or comment
		case strings.HasPrefix(line, "</"):
			if line[len(line)-1] != '>' {
				return syntaxError(ErrSyntax, pos, "malformed section end")
			}
			typ := strings.ToLower(strings.TrimSpace(line[2 : len(line)-1]))
			if len(stack) == 0 {
				return syntaxError(ErrSyntax, pos, "unexpected section end")
			}
			top := stack[len(stack)-1]
			if typ != top.sect.Type {
				e := syntaxError(ErrSyntax, pos, "unbalanced section end")
				e.Key, e.Value = top.sect.Type, line
				return e
			}
			stack = stack[:len(stack)-1]
			top.sect.End = pos
			cur = top.parent
		case line[0] == '<':
			if line[len(line)-1] != '>' {
				return syntaxError(ErrSyntax, pos, "malformed section start")
			}
			inner := line[1 : len(line)-1]
			empty := strings.HasSuffix(inner, "/")
			if empty {
				inner = inner[:len(inner)-1]
			}
			typ, name, ok := splitSectionHeader(strings.TrimRight(inner, " \t\f\v"))
			if !ok {
				return syntaxError(ErrSyntax, pos, "malformed section header")
			}
			s := &Section{Type: strings.ToLower(typ), Name: strings.ToLower(name), Pos: pos}
			cur.Sections = append(cur.Sections, s)
			if !empty {
				if len(stack)+p.depth >= MaxNesting {
					return syntaxError(ErrSyntax, pos, "sections nested more than %d levels deep", MaxNesting)
				}
				stack = append(stack, openSection{sect: s, parent: cur})
				cur = s
			}
		case line[0] == '%':
			if err := p.directive(cur, line[1:], pos, len(stack)); err != nil {
				return err
			}
		default:
			key, value, ok := splitKeyValue(line)
			if !ok {
				e := syntaxError(ErrSyntax, pos, "malformed configuration data")
				e.Value = line
				return e
			}
			v, err := p.substitute(value, pos)
			if err != nil {
				if e, ok := err.(*Error); ok {
					e.Key = key
					e.After = "in value of key " + pyrepr.Str(key) + ": " + pyrepr.Str(value)
				}
				return err
			}
			cur.Values = append(cur.Values, KeyValue{Key: key, Value: v, Pos: pos})
		}
	}
	if len(stack) > 0 {
		// ZConfig reports this at the last line it read, not at the
		// opening tag.
		open := stack[len(stack)-1].sect
		e := syntaxError(ErrUnterminated, Pos{File: file, Line: len(lines)}, "unclosed sections not allowed")
		e.Key = open.Type
		return e
	}
	return nil
}

// isNameChar reports whether c may be part of a key or section word; the
// ZConfig grammar uses [^\s()]+ for both.
func isNameChar(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v', '(', ')':
		return false
	}
	return true
}

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}

// splitKeyValue follows cfgparser's regular expression
// (?P<key>[^\s()]+)\s*(?P<value>[^\s].*)?$ on a stripped line.
func splitKeyValue(line string) (key, value string, ok bool) {
	i := 0
	for i < len(line) && isNameChar(line[i]) {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	key = line[:i]
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	return key, line[i:], true
}

// splitSectionHeader parses "type" or "type name".
func splitSectionHeader(s string) (typ, name string, ok bool) {
	i := 0
	for i < len(s) && isNameChar(s[i]) {
		i++
	}
	if i == 0 {
		return "", "", false
	}
	typ = s[:i]
	rest := s[i:]
	if rest == "" {
		return typ, "", true
	}
	j := 0
	for j < len(rest) && isSpace(rest[j]) {
		j++
	}
	if j == 0 {
		return "", "", false
	}
	name = rest[j:]
	for k := 0; k < len(name); k++ {
		if !isNameChar(name[k]) {
			return "", "", false
		}
	}
	return typ, name, name != ""
}

func (p *parser) directive(cur *Section, rest string, pos Pos, nesting int) error {
	name, arg, ok := splitKeyValue(rest)
	if !ok {
		return syntaxError(ErrSyntax, pos, "missing or unrecognized directive")
	}
	switch name {
	case "define", "import", "include":
	default:
		return syntaxError(ErrSyntax, pos, "unknown directive: %s", pyrepr.Str(name))
	}
	if arg == "" {
		return syntaxError(ErrSyntax, pos, "missing argument to %%%s directive", name)
	}
	switch name {
	case "define":
		return p.define(arg, pos)
	case "import":
		pkg, err := p.substitute(strings.TrimSpace(arg), pos)
		if err != nil {
			return err
		}
		// The Python components an %import would load (ZEO, ZODB,
		// ZConfig.components.logger, ...) are built into the schemas
		// here, so the directive only needs recording.
		*p.imports = append(*p.imports, pkg)
		return nil
	default: // include
		target, err := p.substitute(strings.TrimSpace(arg), pos)
		if err != nil {
			return err
		}
		target = strings.TrimPrefix(target, "file://")
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(pos.File), target)
		}
		// The included text lands in the current section, so its
		// sections count towards the nesting limit from there.
		p.depth += nesting
		defer func() { p.depth -= nesting }()
		return p.parseFile(cur, target, pos)
	}
}

func (p *parser) define(arg string, pos Pos) error {
	// ZConfig splits on the first whitespace run: rest.split(None, 1).
	name := arg
	value := ""
	if i := strings.IndexFunc(arg, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) }); i >= 0 {
		name = arg[:i]
		value = strings.TrimLeft(arg[i:], " \t\f\v")
	}
	name = strings.ToLower(name)
	if !isSubstName(name) {
		return syntaxError(ErrSyntax, pos, "not a substitution legal name: %s", pyrepr.Str(name))
	}
	v, err := p.substitute(value, pos)
	if err != nil {
		return err
	}
	if old, ok := p.defines[name]; ok && old != v {
		e := syntaxError(ErrSyntax, pos, "cannot redefine %s", pyrepr.Str(name))
		e.Key, e.Value = name, v
		return e
	}
	p.defines[name] = v
	return nil
}
