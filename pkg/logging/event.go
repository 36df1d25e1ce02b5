package logging

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// zerolog writes one flat JSON object per event.  Decoding it with
// encoding/json's token API cost some seventy allocations a record; this
// scanner walks the bytes once and allocates only for the strings kept.
// It accepts any JSON object (nested values are kept as written) and
// reports false for anything else, which decode then logs verbatim.

// scanObject calls fn for each member of the JSON object in p, with the
// key's bytes still quoted-escaped (escKey tells whether they hold a
// backslash) and the value as written.
func scanObject(p []byte, fn func(key []byte, escKey bool, val []byte)) bool {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return false
	}
	i = skipSpace(p, i+1)
	if i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	for {
		if i >= len(p) || p[i] != '"' {
			return false
		}
		end, esc := stringEnd(p, i)
		if end < 0 {
			return false
		}
		key := p[i+1 : end-1]
		i = skipSpace(p, end)
		if i >= len(p) || p[i] != ':' {
			return false
		}
		i = skipSpace(p, i+1)
		vend := valueEnd(p, i)
		if vend < 0 {
			return false
		}
		fn(key, esc, p[i:vend])
		i = skipSpace(p, vend)
		if i >= len(p) {
			return false
		}
		switch p[i] {
		case ',':
			i = skipSpace(p, i+1)
		case '}':
			return skipSpace(p, i+1) == len(p)
		default:
			return false
		}
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the closing quote of the string
// starting at p[i], and whether it holds escapes; -1 if unterminated.
func stringEnd(p []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return -1, esc
}

// valueEnd returns the index after the JSON value starting at p[i].
func valueEnd(p []byte, i int) int {
	if i >= len(p) {
		return -1
	}
	switch p[i] {
	case '"':
		end, _ := stringEnd(p, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(p); j++ {
			switch p[j] {
			case '"':
				end, _ := stringEnd(p, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(p) && p[j] != ',' && p[j] != '}' && p[j] != ' ' && p[j] != '\n' && p[j] != '\t' && p[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

// jsonText is the text of a JSON value: a string unescaped, anything else
// as written.
func jsonText(v []byte) string {
	if len(v) >= 2 && v[0] == '"' {
		inner := v[1 : len(v)-1]
		if strings.IndexByte(string(inner), '\\') < 0 {
			return string(inner)
		}
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	return string(v)
}

func keyText(k []byte, esc bool) string {
	if !esc {
		return string(k)
	}
	var s string
	if json.Unmarshal(append(append([]byte{'"'}, k...), '"'), &s) == nil {
		return s
	}
	return string(k)
}

// decode turns a zerolog JSON event into a record.  Unknown fields are
// appended to the message as " key=value" in event order.  Bytes that are
// not a JSON object (nothing zerolog makes) are logged as they are, never
// dropped.
func (l *Log) decode(p []byte) record {
	r := record{name: RootName, level: LevelInfo, time: l.now(), process: l.pid, start: l.start}
	var extra []byte
	haveLevelno := false
	zlLevel := ""
	ok := scanObject(p, func(k []byte, esc bool, v []byte) {
		key := string(k) // no allocation: only compared
		if esc {
			key = keyText(k, esc)
		}
		switch key {
		case NameField:
			r.name = jsonText(v)
		case LevelnoField:
			if n, err := strconv.Atoi(string(v)); err == nil {
				r.level, haveLevelno = Level(n), true
			}
		case zerolog.LevelFieldName:
			zlLevel = jsonText(v)
		case zerolog.MessageFieldName:
			r.message = jsonText(v)
		case pathnameField:
			r.pathname = jsonText(v)
		case linenoField:
			r.lineno, _ = strconv.Atoi(string(v))
		case funcNameField:
			r.funcName = jsonText(v)
		case zerolog.CallerFieldName:
			c := jsonText(v)
			if i := strings.LastIndexByte(c, ':'); i > 0 {
				r.pathname = c[:i]
				r.lineno, _ = strconv.Atoi(c[i+1:])
			} else {
				r.pathname = c
			}
		case zerolog.TimestampFieldName:
			// The record time is taken when the event is written, so
			// that it does not depend on zerolog's global time format.
			// A JSON handler keeps the event's own field.
			r.hasTime = true
		default:
			extra = append(extra, ' ')
			extra = append(extra, keyText(k, esc)...)
			extra = append(extra, '=')
			extra = append(extra, jsonText(v)...)
		}
	})
	if !ok {
		return record{name: RootName, level: LevelInfo, time: r.time, process: l.pid, start: l.start,
			message: strings.TrimSuffix(string(p), "\n")}
	}
	r.event = p
	if !haveLevelno && zlLevel != "" {
		r.level = levelFromZerolog(zlLevel)
	}
	if len(extra) > 0 {
		r.message += string(extra)
	}
	return r
}

// renderJSON appends the record as one JSON line (FormatJSON): zerolog's
// event as written, with "time" put in front unless the event has one.
// Bytes that were not a JSON object become {"time", "level", "levelno",
// "logger", "message"} so that every line of the file parses.
func renderJSON(buf []byte, r *record) []byte {
	ev := bytes.TrimRight(r.event, " \t\r\n")
	if len(ev) < 2 || ev[0] != '{' {
		buf = append(buf, `{"time":`...)
		buf = strconv.AppendQuote(buf, r.time.Format(JSONTimeFormat))
		buf = append(buf, `,"level":`...)
		buf = strconv.AppendQuote(buf, r.level.zerologLevel().String())
		buf = append(buf, `,"levelno":`...)
		buf = strconv.AppendInt(buf, int64(r.level), 10)
		buf = append(buf, `,"logger":`...)
		buf = appendJSONString(buf, r.name)
		buf = append(buf, `,"message":`...)
		buf = appendJSONString(buf, r.message)
		return append(buf, "}\n"...)
	}
	if r.hasTime {
		buf = append(buf, ev...)
		return append(buf, '\n')
	}
	buf = append(buf, `{"time":"`...)
	buf = r.time.AppendFormat(buf, JSONTimeFormat)
	buf = append(buf, '"')
	if rest := bytes.TrimLeft(ev[1:], " \t\r\n"); len(rest) > 0 && rest[0] != '}' {
		buf = append(buf, ',')
	}
	buf = append(buf, ev[1:]...)
	return append(buf, '\n')
}

// appendJSONString quotes s for JSON; json.Marshal of a string cannot
// fail, and escapes what JSON needs (invalid UTF-8 becomes U+FFFD).
func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(buf, b...)
}
