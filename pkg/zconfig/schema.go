package zconfig

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/zdkit/zdkit/pkg/pyrepr"
)

// Key describes one key of a section type.
type Key struct {
	Name     string   // lower-case name
	Type     Datatype // the zero Datatype means String
	Default  string   // used when the key is absent; "" means no default
	Required bool     // absent and no default: an error
	Multi    bool     // the key may repeat (a ZConfig multikey)
	// Obsolete, when set, makes any use of the key an error with this
	// explanation (ZEO 3's digest-auth keys point users to <ssl>).
	Obsolete string
}

// NameRule says whether sections in a slot carry a name.
type NameRule int

const (
	NameOptional NameRule = iota // ZConfig name="*"
	NameRequired                 // ZConfig name="+"
)

// Slot is a place for child sections in a section type: one concrete
// type, or several for an abstract type such as ZODB.storage.
type Slot struct {
	Types    []*SectionType
	Abstract string // the abstract type's name, for messages ("" if concrete)
	Names    NameRule
	Required bool
	Multi    bool
}

// SectionType describes a kind of section.
type SectionType struct {
	Name     string
	Keys     []Key
	Sections []Slot
	// AnyKeys accepts arbitrary keys with string values and keeps their
	// case (ZConfig keytype="string" with a "+" key, as <environment>).
	AnyKeys bool
	// Check, if set, runs after the section's keys are converted; it is
	// where constraints between keys live.
	Check func(*Node) error
	// Package, when set, is the %import that makes the type known (a
	// ZConfig component outside ZODB and ZEO, such as relstorage);
	// without that import ZConfig does not know the type.
	Package string
}

// Schema is the top of a configuration: the root section type plus the
// section types accepted at the top and skipped without checking.
type Schema struct {
	Name   string
	Root   *SectionType
	Ignore []string
}

// Value is one converted value with its source.
type Value struct {
	Raw     string
	Typed   any
	Pos     Pos
	Default bool // came from the schema default
}

type entry struct {
	key  Key
	vals []Value
}

// Node is a schema-checked section with typed values.
type Node struct {
	Type string // section type, lower-cased ("runner"); "" for the root
	Name string // section name, lower-cased; "" when unnamed
	Pos  Pos
	// Unnamed is set when Name was given by a rule rather than the file
	// (runzeo calls its one unnamed storage "1").
	Unnamed bool

	st       *SectionType
	entries  map[string]*entry
	pairs    []KeyValue
	children []*Node
}

// Override is one command-line override ("runner/backoff-limit=5").
type Override struct {
	Path  []string // lower-cased section names or types, then the key
	Key   string   // the last element as written (<environment> keeps case)
	Value string
	Spec  string // as given, for messages
	used  bool
}

// ParseOverride parses a ZConfig command-line override specifier.
func ParseOverride(spec string) (*Override, error) {
	pos := Pos{File: "-X " + spec}
	i := strings.IndexByte(spec, '=')
	if i < 0 {
		e := newError(ErrOverride, pos, "invalid configuration specifier")
		e.After = "(expected section/key=value)"
		e.Value = spec
		return nil, e
	}
	path := strings.Split(spec[:i], "/")
	for _, p := range path {
		if p == "" {
			e := newError(ErrOverride, pos, "'//' is not allowed in an option path")
			e.Value = spec
			return nil, e
		}
	}
	key := path[len(path)-1]
	for j := range path {
		path[j] = strings.ToLower(path[j])
	}
	return &Override{Path: path, Key: key, Value: spec[i+1:], Spec: spec}, nil
}

// LoadFile parses path and checks it against the schema, applying the
// -X style overrides on top.
func (s *Schema) LoadFile(path string, overrides ...string) (*Node, error) {
	root, err := ParseFile(path, ParseOptions{})
	if err != nil {
		return nil, err
	}
	return s.Check(root, overrides...)
}

// Load parses configuration text from r (name is used in messages and
// for relative %include paths) and checks it against the schema.
func (s *Schema) Load(r io.Reader, name string, overrides ...string) (*Node, error) {
	root, err := Parse(r, name, ParseOptions{})
	if err != nil {
		return nil, err
	}
	return s.Check(root, overrides...)
}

// Check applies the schema (and overrides) to a parsed tree.
func (s *Schema) Check(root *Section, overrides ...string) (*Node, error) {
	var ovs []*Override
	for _, spec := range overrides {
		o, err := ParseOverride(spec)
		if err != nil {
			return nil, err
		}
		ovs = append(ovs, o)
	}
	ignore := map[string]bool{}
	for _, t := range s.Ignore {
		ignore[t] = true
	}
	known := map[string]bool{}
	collectTypes(s.Root, known)
	imported := map[string]bool{}
	for _, p := range root.Imports {
		imported[p] = true
	}
	n, err := match(s.Root, root, ovs, ignore, known, imported)
	if err != nil {
		return nil, err
	}
	for _, o := range ovs {
		if !o.used {
			e := newError(ErrOverride, Pos{File: "-X " + o.Spec}, "not all command line options were consumed")
			e.After = "(no section of the configuration has this path)"
			e.Value = o.Spec
			return nil, e
		}
	}
	return n, nil
}

// match checks one section against its type. ovs are the overrides whose
// path, relative to this section, is still to be consumed.
func match(st *SectionType, sec *Section, ovs []*Override, ignore, known, imported map[string]bool) (*Node, error) {
	n := &Node{Type: sec.Type, Name: sec.Name, Pos: sec.Pos, st: st, entries: map[string]*entry{}}
	keys := map[string]Key{}
	for _, k := range st.Keys {
		keys[k.Name] = k
	}

	// Keys overridden on the command line replace what the file says,
	// as ZConfig's cmdline module does.
	overridden := map[string]bool{}
	for _, o := range ovs {
		if len(o.Path) == 1 {
			overridden[o.Path[0]] = true
		}
	}

	add := func(kv KeyValue) error {
		name := strings.ToLower(kv.Key)
		k, known := keys[name]
		if !known {
			if st.AnyKeys {
				n.pairs = append(n.pairs, kv)
				return nil
			}
			e := newError(ErrUnknownKey, kv.Pos, "%s is not a known key name", pyrepr.Str(kv.Key))
			e.After = inSection(st)
			e.Key, e.Value = kv.Key, kv.Value
			return e
		}
		if k.Obsolete != "" {
			e := newError(ErrUnknownKey, kv.Pos, "%s is no longer supported: %s", pyrepr.Str(kv.Key), k.Obsolete)
			e.After = inSection(st)
			e.Key, e.Value = kv.Key, kv.Value
			return e
		}
		ent := n.entries[name]
		if ent == nil {
			ent = &entry{key: k}
			n.entries[name] = ent
		} else if !k.Multi {
			e := newError(ErrDuplicate, kv.Pos, "%s does not support multiple values", pyrepr.Str(kv.Key))
			first := ent.vals[0]
			e.After = fmt.Sprintf("value %s, first given as %s (%s)", pyrepr.Str(kv.Value), pyrepr.Str(first.Raw), first.Pos)
			if in := inSection(st); in != "" {
				e.After = in + "; " + e.After
			}
			e.Key, e.Value = kv.Key, kv.Value
			return e
		}
		v, err := convert(k, kv.Value, kv.Pos, st)
		if err != nil {
			return err
		}
		ent.vals = append(ent.vals, v)
		return nil
	}

	for _, kv := range sec.Values {
		if overridden[strings.ToLower(kv.Key)] {
			continue
		}
		if err := add(kv); err != nil {
			return nil, err
		}
	}
	for _, o := range ovs {
		if len(o.Path) == 1 {
			o.used = true
			if err := add(KeyValue{Key: o.Key, Value: o.Value, Pos: Pos{File: "-X " + o.Spec}}); err != nil {
				return nil, err
			}
		}
	}

	// Child sections.
	counts := make([]int, len(st.Sections))
	names := map[string]Pos{}
	for _, child := range sec.Sections {
		slot := -1
		var ct *SectionType
		for i, sl := range st.Sections {
			for _, t := range sl.Types {
				if t.Name == child.Type {
					slot, ct = i, t
					break
				}
			}
			if slot >= 0 {
				break
			}
		}
		if slot < 0 {
			if ignore[child.Type] {
				continue
			}
			// ZConfig's words: "unknown type name" for a type the
			// schema does not have at all (SectionType.gettype), "no
			// matching section defined" for one that exists but not
			// here (getsectioninfo). Both are raised at the start tag
			// and reported as syntax errors there.
			e := syntaxError(ErrUnknownSection, child.Pos, "unknown type name: %s", pyrepr.Str(child.Type))
			if known[child.Type] {
				e.Msg = fmt.Sprintf("no matching section defined for type='%s', name='%s'", child.Type, pyName(child.Name))
			}
			e.Key = child.Type
			e.After = allowedTypes(st)
			return nil, e
		}
		if ct.Package != "" && !imported[ct.Package] {
			e := syntaxError(ErrUnknownSection, child.Pos, "unknown type name: %s", pyrepr.Str(child.Type))
			e.Key = child.Type
			e.After = fmt.Sprintf("the type comes from %%import %s, which this file lacks", ct.Package)
			return nil, e
		}
		sl := st.Sections[slot]
		if child.Name == "" && sl.Names == NameRequired {
			e := syntaxError(ErrSyntax, child.Pos, "%s sections must be named", pyrepr.Str(child.Type))
			e.Key = child.Type
			return nil, e
		}
		if child.Name != "" {
			if first, dup := names[child.Name]; dup {
				// ZConfig's text, missing space included; it checks at the
				// end tag of the second section.
				e := syntaxError(ErrDuplicate, child.End,
					"section names must not be re-used within the same container:%s", pyrepr.Str(child.Name))
				e.Key = child.Name
				e.After = "first used at " + first.String()
				return nil, e
			}
			names[child.Name] = child.Pos
		}
		counts[slot]++
		if counts[slot] > 1 && !sl.Multi {
			what := child.Type
			if sl.Abstract != "" {
				what = sl.Abstract
			}
			// Reported at the end tag of the extra section, as ZConfig
			// adds a section to its container there.
			e := syntaxError(ErrDuplicate, child.End, "too many instances of %s section", pyrepr.Str(strings.ToLower(what)))
			e.Key = child.Type
			return nil, e
		}
		// Overrides for this child: those whose first element names it.
		var sub []*Override
		for _, o := range ovs {
			if len(o.Path) > 1 && !o.used && (o.Path[0] == child.Name && child.Name != "" || o.Path[0] == child.Type) {
				sub = append(sub, &Override{Path: o.Path[1:], Key: o.Key, Value: o.Value, Spec: o.Spec})
			}
		}
		// Only top-level sections are ignored: a <zeo> inside <runner>
		// is as wrong for runzeo as for zdctl.
		cn, err := match(ct, child, sub, nil, known, imported)
		if err != nil {
			return nil, err
		}
		// ZConfig hands each override to the first section that claims it.
		for i, o := range sub {
			if o.used {
				markUsed(ovs, sub[i].Spec)
			}
		}
		n.children = append(n.children, cn)
	}
	for i, sl := range st.Sections {
		if sl.Required && counts[i] == 0 {
			what := sl.Types[0].Name
			if sl.Abstract != "" {
				what = sl.Abstract
			}
			// ZConfig's matcher: "no values for" a single section,
			// "not enough values for" a multisection (its empty list is
			// not None); type names are lower case there.
			e := missingError(sec, st, fmt.Sprintf("no values for section type %s; 1 required", pyrepr.Str(strings.ToLower(what))))
			if sl.Multi {
				e.Msg = fmt.Sprintf("not enough values for section type %s; 0 found, 1 required", pyrepr.Str(strings.ToLower(what)))
			}
			e.Key = what
			return nil, e
		}
	}

	// Defaults and required keys.
	for _, k := range st.Keys {
		if _, ok := n.entries[k.Name]; ok {
			continue
		}
		if k.Default != "" {
			v, err := convert(k, k.Default, Pos{}, st)
			if err != nil {
				return nil, fmt.Errorf("zconfig: schema default of %s is invalid: %w", k.Name, err)
			}
			v.Default = true
			n.entries[k.Name] = &entry{key: k, vals: []Value{v}}
			continue
		}
		if k.Required {
			e := missingError(sec, st, fmt.Sprintf("no values for %s; 1 required", pyrepr.Str(k.Name)))
			if k.Multi {
				e.Msg = fmt.Sprintf("not enough values for %s; 0 found, 1 required", pyrepr.Str(k.Name))
			}
			e.Key = k.Name
			return nil, e
		}
	}
	if st.Check != nil {
		if err := st.Check(n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// missingError places an error about a missing key or section as ZConfig
// does: a section's contents are checked at its end tag and reported as a
// syntax error there ("...\n(line 9 in file:///...)"); an empty <type/>
// section and the top level get the bare message (we add the file).
func missingError(sec *Section, st *SectionType, msg string) *Error {
	switch {
	case sec.Type == "":
		return newError(ErrMissing, Pos{File: sec.Pos.File}, "%s", msg)
	case sec.End.Line > 0:
		return syntaxError(ErrMissing, sec.End, "%s", msg)
	default:
		e := newError(ErrMissing, sec.Pos, "%s", msg)
		e.After = inSection(st)
		return e
	}
}

// pyName is str() of a section name as ZConfig formats it: None when the
// section has no name.
func pyName(name string) string {
	if name == "" {
		return "None"
	}
	return name
}

// collectTypes gathers the names of every section type reachable from st.
func collectTypes(st *SectionType, into map[string]bool) {
	for _, sl := range st.Sections {
		for _, t := range sl.Types {
			if !into[t.Name] {
				into[t.Name] = true
				collectTypes(t, into)
			}
		}
	}
}

func markUsed(ovs []*Override, spec string) {
	for _, o := range ovs {
		if o.Spec == spec && len(o.Path) > 1 && !o.used {
			o.used = true
			return
		}
	}
}

func allowedTypes(st *SectionType) string {
	var names []string
	for _, sl := range st.Sections {
		for _, t := range sl.Types {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// inSection names a section type for messages ("in <runner>"); "" for
// the top level.
func inSection(st *SectionType) string {
	if st == nil || st.Name == "" {
		return ""
	}
	return "in <" + st.Name + ">"
}

func convert(k Key, raw string, pos Pos, st *SectionType) (Value, error) {
	dt := k.Type
	if dt.Convert == nil {
		dt = String
	}
	typed, err := dt.Convert(raw)
	if err != nil {
		// ZConfig's DataConversionError: the conversion's message, then
		// the position; the key and section follow so the message names
		// all four.
		e := &Error{Kind: ErrBadValue, Pos: pos, Key: k.Name, Value: raw, Err: err,
			Msg: err.Error(), After: strings.TrimSpace("for key " + pyrepr.Str(k.Name) + " " + inSection(st))}
		return Value{}, e
	}
	return Value{Raw: raw, Typed: typed, Pos: pos}, nil
}

// ValueError builds an *Error about a key's value from a section check,
// so cross-key constraints report like everything else.
func (n *Node) ValueError(key string, format string, args ...any) error {
	e := newError(ErrBadValue, n.Pos, format, args...)
	e.Key = key
	if v, ok := n.Value(key); ok {
		e.Pos, e.Value = v.Pos, v.Raw
	}
	return e
}
