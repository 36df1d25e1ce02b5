package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zdkit/zdkit/pkg/getopt"
	"github.com/zdkit/zdkit/pkg/pyrepr"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// Version is what --version prints (zdaemon prints its package version).
const Version = "5.2.1+zdkit"

// Mode says which program is parsing: the flags differ slightly.
type Mode int

const (
	Zdctl Mode = iota // -p, -l, -T, -i are accepted; the program comes from -p or the file
	Zdrun             // the program is the positional arguments
)

// ErrHelp and ErrVersion are returned by Parse when -h/--help or
// --version was reached; the caller prints and exits 0.
var (
	ErrHelp    = errors.New("help requested")
	ErrVersion = errors.New("version requested")
)

// Source is where an option's value came from.
type Source int

const (
	FromDefault Source = iota
	FromConfig
	FromFlag
)

// Defaults (zdaemon's RunnerOptions and schema.xml).
const (
	DefaultSocketName   = "zdsock"
	DefaultBackoffLimit = 10
	DefaultUmask        = 0o22
	DefaultTranscript   = "/dev/null"
	DefaultStartTimeout = 300 // seconds
	// DefaultStopTimeout applies in every mode; zdaemon had it only with
	// a config file, so "stop" could hang forever (zdaemon fault 1, docs/design/supervision.md).
	DefaultStopTimeout = 300 // seconds
	// DefaultSettleTime is how long a freshly spawned program must stay up
	// to count as started when there is no start-test-program, so that a
	// program crashing at once is not reported as started.
	DefaultSettleTime = 50 * time.Millisecond
	// DefaultPATH is zdrun's search path when $PATH is unset or empty.
	DefaultPATH = "/bin:/usr/bin:/usr/local/bin"
)

// KeyValue is one <environment> line (names keep their case).
type KeyValue struct{ Name, Value string }

// Options are the resolved settings. Field comments give the <runner> key
// and the flag.
type Options struct {
	Prog string // argv[0], for "For help, use <prog> -h"
	Mode Mode

	SchemaFile string   // -S/--schema; accepted for compatibility, the schema is built in
	ConfigFile string   // -C/--configure; "" when none
	Overrides  []string // -X key=value, in order
	Config     *zconfig.Node

	Program              []string      // program / -p (zdctl) / positional (zdrun)
	Filename             string        // Zdrun mode: the resolved path of Program[0]
	BackoffLimit         int           // backoff-limit / -b
	Daemon               bool          // daemon / -d
	Forever              bool          // forever / -f
	SocketName           string        // socket-name / -s (made absolute in Zdrun mode)
	ExitCodes            []int         // exit-codes / -x
	User                 string        // user / -u; "" unset
	Umask                int           // umask / -m
	Directory            string        // directory / -z; "" unset
	Transcript           string        // transcript / -t
	LogFile              string        // logfile / -l (zdctl)
	StartTimeout         int           // start-timeout / -T (zdctl), seconds
	StopTimeout          int           // stop-timeout / --stop-timeout, seconds
	StartTestProgram     []string      // start-test-program (config only)
	SettleTime           time.Duration // settle-time (ms) / --settle-time
	Python               string        // python: accepted, unused by Go
	Zdrun                string        // zdrun: the manager binary zdctl starts
	Prompt               string        // prompt; "" = default
	HistoryFile          string        // history-file: the shell's history; "" = default
	HangAround           bool          // hang-around (seed era)
	DefaultToInteractive bool          // default-to-interactive
	Interactive          bool          // -i/--interactive (zdctl)
	Environment          []KeyValue    // <environment>
	EventLog             *zconfig.Node // <runner><eventlog>, else top-level <eventlog>; nil if none

	// Args are the positional words: zdctl's action and its arguments;
	// in Zdrun mode the program words (also in Program).
	Args []string

	source map[string]Source
}

// Source reports where the setting with the given name (the zdaemon
// attribute names: "backofflimit", "daemon", "forever", "sockname",
// "exitcodes", "user", "umask", "directory", "transcript", "logfile",
// "program", "starttimeout", "stoptimeout", "settletime") came from.
func (o *Options) Source(name string) Source { return o.source[name] }

// setting ties an attribute to its config key, flag and default.
type setting struct {
	name    string // zdaemon attribute name
	key     string // <runner> key; "" if none
	short   byte
	long    string
	hasArg  bool
	convert func(string) (any, error)
	flag    any
	deflt   any // nil: no default
	modes   []Mode
}

func both() []Mode    { return []Mode{Zdctl, Zdrun} }
func ctlOnly() []Mode { return []Mode{Zdctl} }

func intArg(s string) (any, error) {
	v, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(s, "_", "")))
	if err != nil {
		return nil, fmt.Errorf("invalid literal for int() with base 10: %s", pyrepr.Str(s))
	}
	return v, nil
}

func octalArg(s string) (any, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	if len(t) > 2 && (t[:2] == "0o" || t[:2] == "0O") {
		t = t[2:]
	}
	v, err := strconv.ParseInt(t, 8, 32)
	if err != nil || t == "" || strings.HasPrefix(t, "+") || strings.HasPrefix(t, "-") {
		return nil, fmt.Errorf("invalid literal for int() with base 8: %s", pyrepr.Str(s))
	}
	if neg {
		v = -v
	}
	return int(v), nil
}

// listOfInts is zdaemon's list_of_ints: "" is the empty list.
func listOfInts(s string) (any, error) {
	if s == "" {
		return []int{}, nil
	}
	var out []int
	for _, p := range strings.Split(s, ",") {
		v, err := intArg(p)
		if err != nil {
			return nil, err
		}
		out = append(out, v.(int))
	}
	return out, nil
}

// existingParentDirpath is zdaemon's check for socket-name: the
// grand-parent directory must exist (zdctl creates the parent).
func existingParentDirpath(s string) (any, error) {
	p := expandUser(s)
	parent := pyDirname(pyDirname(p))
	if parent == "" {
		return p, nil
	}
	if st, err := os.Stat(parent); err == nil && st.IsDir() {
		return p, nil
	}
	//lint:ignore ST1005 ZConfig 4.3 existing_dirpath's message, byte for byte
	return nil, fmt.Errorf("The directory named as part of the path %s does not exist.", s)
}

// existingParentDirectory is zdaemon's check for directory: it or its
// parent must exist.
func existingParentDirectory(s string) (any, error) {
	p := expandUser(s)
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return p, nil
	}
	parent := pyDirname(p)
	if parent == "" {
		parent = "."
	}
	if st, err := os.Stat(parent); err == nil && st.IsDir() {
		return p, nil
	}
	return nil, fmt.Errorf("%s is not an existing directory", s)
}

func expandUser(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return home + p[1:]
		}
	}
	return p
}

// pyDirname is os.path.dirname.
func pyDirname(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	head := p[:i+1]
	if strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

func settings() []setting {
	return []setting{
		{name: "backofflimit", key: "backoff-limit", short: 'b', long: "backoff-limit", hasArg: true, convert: intArg, deflt: DefaultBackoffLimit, modes: both()},
		{name: "daemon", key: "daemon", short: 'd', long: "daemon", flag: 1, deflt: 1, modes: both()},
		{name: "forever", key: "forever", short: 'f', long: "forever", flag: 1, deflt: 0, modes: both()},
		{name: "sockname", key: "socket-name", short: 's', long: "socket-name", hasArg: true, convert: existingParentDirpath, deflt: DefaultSocketName, modes: both()},
		{name: "exitcodes", key: "exit-codes", short: 'x', long: "exit-codes", hasArg: true, convert: listOfInts, deflt: []int{0, 2}, modes: both()},
		{name: "user", key: "user", short: 'u', long: "user", hasArg: true, modes: both()},
		{name: "umask", key: "umask", short: 'm', long: "umask", hasArg: true, convert: octalArg, deflt: DefaultUmask, modes: both()},
		{name: "directory", key: "directory", short: 'z', long: "directory", hasArg: true, convert: existingParentDirectory, modes: both()},
		{name: "transcript", key: "transcript", short: 't', long: "transcript", hasArg: true, deflt: DefaultTranscript, modes: both()},
		{name: "stoptimeout", key: "stop-timeout", long: "stop-timeout", hasArg: true, convert: intArg, deflt: DefaultStopTimeout, modes: both()},
		{name: "settletime", key: "settle-time", long: "settle-time", hasArg: true, convert: intArg, deflt: int(DefaultSettleTime / time.Millisecond), modes: both()},
		{name: "program", key: "program", short: 'p', long: "program", hasArg: true, convert: func(s string) (any, error) { return strings.Fields(s), nil }, modes: ctlOnly()},
		{name: "logfile", key: "logfile", short: 'l', long: "logfile", hasArg: true, modes: ctlOnly()},
		{name: "starttimeout", key: "start-timeout", short: 'T', long: "start-timeout", hasArg: true, convert: intArg, deflt: DefaultStartTimeout, modes: ctlOnly()},
		{name: "interactive", short: 'i', long: "interactive", flag: 1, modes: ctlOnly()},
		{name: "python", key: "python"},
		{name: "zdrun", key: "zdrun"},
		{name: "prompt", key: "prompt"},
		{name: "historyfile", key: "history-file"},
		{name: "starttestprogram", key: "start-test-program"},
		{name: "hangaround", key: "hang-around", deflt: false},
		{name: "defaulttointeractive", key: "default-to-interactive", deflt: true},
	}
}

func (s setting) in(m Mode) bool {
	for _, x := range s.modes {
		if x == m {
			return true
		}
	}
	return false
}

// OptionTable is the command-line option table of zdctl (mode Zdctl) or
// zdrun: -h, --version, -C, -X, -S, then one option per setting with a
// flag. Parse uses it, and so do zdctl's completion and the
// documentation test, so the three cannot disagree.
func OptionTable(mode Mode) []getopt.Option {
	opts := []getopt.Option{
		{Short: 'h', Long: "help", Stop: true},
		{Long: "version", Stop: true},
		{Name: "configfile", Short: 'C', Long: "configure", HasArg: true},
		{Name: "overrides", Short: 'X', HasArg: true, Multi: true},
		{Name: "schemafile", Short: 'S', Long: "schema", HasArg: true},
	}
	for _, s := range settings() {
		if !s.in(mode) {
			continue
		}
		opts = append(opts, getopt.Option{Name: s.name, Short: s.short, Long: s.long,
			HasArg: s.hasArg, Convert: s.convert, Flag: s.flag})
	}
	return opts
}

// RunnerKeys lists the <runner> keys Parse reads (zdaemon's schema.xml
// keys plus zdkit's), in table order.
func RunnerKeys() []string {
	var keys []string
	for _, s := range settings() {
		if s.key != "" {
			keys = append(keys, s.key)
		}
	}
	return keys
}

// Parse reads a zdctl or zdrun command line (args without argv[0]).
// Errors are ErrHelp, ErrVersion, or a *getopt.UsageError whose message
// is zdaemon's.
func Parse(prog string, args []string, mode Mode) (*Options, error) {
	p := &getopt.Parser{Options: OptionTable(mode)}
	all := settings()
	res, err := p.Parse(args)
	if err != nil {
		return nil, err
	}
	switch res.Stopped {
	case "-h", "--help":
		return nil, ErrHelp
	case "--version":
		return nil, ErrVersion
	}

	o := &Options{Prog: prog, Mode: mode, Args: res.Args, source: map[string]Source{}}
	o.SchemaFile = "schema.xml"
	if v, ok := res.Values["schemafile"]; ok {
		o.SchemaFile = v.(string)
	}
	if v, ok := res.Values["configfile"]; ok {
		o.ConfigFile = v.(string)
	}
	o.Overrides = res.Multi["overrides"]
	if len(o.Overrides) > 0 && o.ConfigFile == "" {
		return nil, getopt.Usagef("configuration overrides (-X) cannot be used without a configuration file")
	}
	var rnode *zconfig.Node
	if o.ConfigFile != "" {
		root, err := Schema.LoadFile(o.ConfigFile, overridePaths(o.Overrides)...)
		if err != nil {
			return nil, &getopt.UsageError{Msg: err.Error()}
		}
		o.Config = root
		rnode = root.Section("runner")
		if env := root.Section("environment"); env != nil {
			for _, kv := range env.Pairs() {
				o.Environment = append(o.Environment, KeyValue{kv.Key, kv.Value})
			}
		}
		if logs := rnode.Sections("eventlog", "logger"); len(logs) > 0 {
			o.EventLog = logs[0]
		}
		if o.EventLog == nil {
			o.EventLog = root.Section("eventlog")
		}
	}

	vals := map[string]any{}
	for _, s := range all {
		if v, ok := res.Values[s.name]; ok && s.in(mode) {
			vals[s.name] = v
			o.source[s.name] = FromFlag
			continue
		}
		if rnode != nil && s.key != "" {
			if v, ok := rnode.Value(s.key); ok {
				vals[s.name] = v.Typed
				o.source[s.name] = FromConfig
				continue
			}
		}
		if s.deflt != nil {
			vals[s.name] = s.deflt
			o.source[s.name] = FromDefault
		}
	}
	o.BackoffLimit = vals["backofflimit"].(int)
	o.Daemon = truthy(vals["daemon"])
	o.Forever = truthy(vals["forever"])
	o.SocketName = vals["sockname"].(string)
	o.ExitCodes = vals["exitcodes"].([]int)
	o.User, _ = vals["user"].(string)
	o.Umask = vals["umask"].(int)
	o.Directory, _ = vals["directory"].(string)
	o.Transcript = vals["transcript"].(string)
	o.StopTimeout = vals["stoptimeout"].(int)
	o.SettleTime = time.Duration(vals["settletime"].(int)) * time.Millisecond
	o.Program, _ = vals["program"].([]string)
	o.LogFile, _ = vals["logfile"].(string)
	if v, ok := vals["starttimeout"].(int); ok {
		o.StartTimeout = v
	} else {
		o.StartTimeout = DefaultStartTimeout
	}
	o.Interactive = truthy(vals["interactive"])
	o.Python, _ = vals["python"].(string)
	o.Zdrun, _ = vals["zdrun"].(string)
	o.Prompt, _ = vals["prompt"].(string)
	o.HistoryFile, _ = vals["historyfile"].(string)
	o.StartTestProgram, _ = vals["starttestprogram"].([]string)
	o.HangAround = truthy(vals["hangaround"])
	o.DefaultToInteractive = truthy(vals["defaulttointeractive"])

	if o.BackoffLimit < 1 {
		// zdaemon would spin in a busy loop with 0 (zdaemon fault 17).
		return nil, getopt.Usagef("backoff-limit must be at least 1, not %d", o.BackoffLimit)
	}
	if o.StopTimeout < 0 {
		return nil, getopt.Usagef("stop-timeout must not be negative, not %d", o.StopTimeout)
	}
	if o.SettleTime < 0 {
		return nil, getopt.Usagef("settle-time must not be negative, not %d", o.SettleTime/time.Millisecond)
	}

	switch mode {
	case Zdctl:
		if len(o.Program) == 0 {
			return nil, getopt.Usagef("no program specified; use -p or -C")
		}
	case Zdrun:
		if len(o.Args) > 0 {
			o.Program = o.Args
			o.source["program"] = FromFlag
		}
		if len(o.Program) == 0 {
			return nil, getopt.Usagef("no program specified (use positional args)")
		}
		fn, err := ResolveProgram(o.Program[0])
		if err != nil {
			return nil, err
		}
		o.Filename = fn
		if abs, err := filepath.Abs(o.SocketName); err == nil {
			o.SocketName = abs
		}
	}
	return o, nil
}

// overridePaths turns zdctl's "-X key=value" into ZConfig override
// paths. zdaemon's keys live in <runner>, and ZConfig's cmdline module
// resolves a bare key against the top level; users write
// "runner/backoff-limit=3", which passes through unchanged.
func overridePaths(xs []string) []string { return xs }

func truthy(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case int:
		return t != 0
	}
	return false
}

// ResolveProgram finds the file zdrun will exec for the program word w,
// with zdrun's rules and messages: a word containing '/' must exist; any
// other is searched on $PATH (DefaultPATH when unset or empty) for a file
// with an execute bit; the result must be executable by us.
func ResolveProgram(w string) (string, error) {
	var filename string
	if strings.Contains(w, "/") {
		if _, err := os.Stat(w); err != nil {
			return "", getopt.Usagef("can't stat program %s", pyrepr.Str(w))
		}
		filename = w
	} else {
		path := SearchPath()
		found := false
		for _, dir := range path {
			f := filepath.Join(dir, w)
			st, err := os.Stat(f)
			if err != nil {
				continue
			}
			if st.Mode()&0o111 != 0 {
				filename, found = f, true
				break
			}
		}
		if !found {
			return "", getopt.Usagef("can't find program %s on PATH %s", pyrepr.Str(w), pyrepr.List(path))
		}
	}
	if !executable(filename) {
		return "", getopt.Usagef("no permission to run program %s", pyrepr.Str(filename))
	}
	return filename, nil
}

// SearchPath is zdrun's get_path: $PATH split on ':', or DefaultPATH.
func SearchPath() []string {
	p := os.Getenv("PATH")
	if p == "" {
		p = DefaultPATH
	}
	return strings.Split(p, ":")
}
