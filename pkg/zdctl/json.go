package zdctl

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// The --json forms of status and show are for scripts and
// monitoring: one JSON object on one line. The encoder is a few lines
// here rather than encoding/json, whose package start-up and reflection
// a one-shot "zdctl status" would pay for on every call; the values are
// only strings, numbers, booleans, null, string lists and nested objects.

// jsonObject builds one JSON object with its members in insertion order
// (the status reply's field order, zdaemon's show order).
type jsonObject struct {
	b []byte
	n int
}

func (o *jsonObject) key(k string) {
	if o.n == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = appendJSONString(o.b, k)
	o.b = append(o.b, ':')
}

func (o *jsonObject) str(k, v string) { o.key(k); o.b = appendJSONString(o.b, v) }
func (o *jsonObject) int(k string, v int) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
}
func (o *jsonObject) bool(k string, v bool) { o.key(k); o.b = strconv.AppendBool(o.b, v) }

// strOrNull is a string, or null for "" (zdaemon's None).
func (o *jsonObject) strOrNull(k, v string) {
	if v == "" {
		o.key(k)
		o.b = append(o.b, "null"...)
		return
	}
	o.str(k, v)
}

func (o *jsonObject) strs(k string, v []string) {
	o.key(k)
	o.b = appendJSONStrings(o.b, v)
}

func (o *jsonObject) ints(k string, v []int) {
	o.key(k)
	o.b = append(o.b, '[')
	for i, x := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = strconv.AppendInt(o.b, int64(x), 10)
	}
	o.b = append(o.b, ']')
}

func (o *jsonObject) object(k string, v *jsonObject) {
	o.key(k)
	o.b = append(o.b, v.bytes()...)
}

func (o *jsonObject) bytes() []byte {
	if o.n == 0 {
		return []byte("{}")
	}
	return append(o.b, '}')
}

func appendJSONStrings(b []byte, v []string) []byte {
	b = append(b, '[')
	for i, s := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSONString quotes s as a JSON string (RFC 8259): quote,
// backslash and control characters escaped, invalid UTF-8 replaced by
// U+FFFD (file names come from the system and need not be UTF-8).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// statusFields types the key=value lines of a status reply (docs/design/control-socket.md) in
// the order zdrun sent them: integers and floats as JSON numbers, the
// Python reprs of filename= and args= as a string and a list of strings,
// anything else (status=running, a seed-era zdrun's mood=) as the text
// it is. Lines that are not key=value are skipped; a key seen twice
// keeps its first value, as zdctl's regular expressions do.
func statusFields(reply string) *jsonObject {
	o := &jsonObject{}
	seen := map[string]bool{}
	for _, line := range strings.Split(reply, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || !isFieldName(k) || seen[k] {
			continue
		}
		seen[k] = true
		o.key(k)
		o.b = appendTyped(o.b, v)
	}
	return o
}

func isFieldName(k string) bool {
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c == '_' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func appendTyped(b []byte, v string) []byte {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return strconv.AppendInt(b, n, 10)
	}
	if isDecimal(v) {
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return strconv.AppendFloat(b, f, 'g', -1, 64)
		}
	}
	switch {
	case strings.HasPrefix(v, "["):
		if words, err := pyrepr.ParseList(v); err == nil {
			return appendJSONStrings(b, words)
		}
	case strings.HasPrefix(v, "'") || strings.HasPrefix(v, `"`):
		if words, err := pyrepr.ParseList("[" + v + "]"); err == nil && len(words) == 1 {
			return appendJSONString(b, words[0])
		}
	}
	return appendJSONString(b, v)
}

// isDecimal accepts what Python's repr(float) writes for a time
// ("1795587435.0728025", "1e+16"), not Go-only spellings such as "0x1p3"
// or "Inf" that ParseFloat would also take.
func isDecimal(v string) bool {
	if v == "" {
		return false
	}
	digits := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			digits = true
		case c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-':
		default:
			return false
		}
	}
	return digits
}

// statusJSON is "status --json": the text status's three cases as
// "manager" and "program" ("running" / "not running"), "pid" (0 when
// no program runs), and "raw", the typed fields of zdrun's reply ({} when
// the manager is down).
func (c *Controller) statusJSON() []byte {
	o := &jsonObject{}
	manager, program := "not running", "not running"
	if c.up {
		manager = "running"
		if c.pid != 0 {
			program = "running"
		}
	}
	o.str("manager", manager)
	o.str("program", program)
	o.int("pid", c.pid)
	o.object("raw", statusFields(c.raw))
	return append(o.bytes(), '\n')
}

// showOptionsJSON is "show options --json": zdaemon's show names with
// typed values (None as null, booleans as booleans, umask as a number),
// then the settings zdkit adds.
func (c *Controller) showOptionsJSON() *jsonObject {
	o := c.Opts
	j := &jsonObject{}
	j.str("schemafile", o.SchemaFile)
	j.strOrNull("configfile", o.ConfigFile)
	j.strOrNull("zdrun", o.Zdrun)
	j.strOrNull("python", o.Python)
	j.strs("program", o.Program)
	j.int("backofflimit", o.BackoffLimit)
	j.bool("daemon", o.Daemon)
	j.bool("forever", o.Forever)
	j.str("sockname", o.SocketName)
	j.ints("exitcodes", o.ExitCodes)
	j.strOrNull("user", o.User)
	j.int("umask", currentUmask(o.Umask))
	j.strOrNull("directory", o.Directory)
	j.strOrNull("logfile", o.LogFile)
	j.str("transcript", o.Transcript)
	j.int("starttimeout", o.StartTimeout)
	j.int("stoptimeout", o.StopTimeout)
	j.int("settletime", int(o.SettleTime.Milliseconds()))
	j.strs("starttestprogram", nonNil(o.StartTestProgram))
	j.strOrNull("prompt", o.Prompt)
	j.strOrNull("historyfile", o.HistoryFile)
	j.bool("hangaround", o.HangAround)
	j.bool("defaulttointeractive", o.DefaultToInteractive)
	env := &jsonObject{}
	for _, kv := range o.Environment {
		env.str(kv.Name, kv.Value)
	}
	j.object("environment", env)
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// showGoJSON is "show python --json": the Go runtime facts of "show python".
func (c *Controller) showGoJSON() *jsonObject {
	j := &jsonObject{}
	for _, f := range c.goInfo() {
		if f.list != nil {
			j.strs(strings.ToLower(f.name), f.list)
		} else {
			j.str(strings.ToLower(f.name), f.value)
		}
	}
	return j
}
