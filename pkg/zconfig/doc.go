// Package zconfig reads configuration files in the syntax of ZConfig 4.x,
// the format of zdaemon's zdctl.conf/zeoctl.conf and of ZEO's zeo.conf, and
// checks them against a schema.
//
// The package has two layers.
//
// The syntax layer (Parse, ParseFile) turns text into a tree of Sections
// holding key/value lines. It implements what ZConfig's cfgparser does:
// '#' comments, "key value" lines whose value is the rest of the line,
// nested "<type [name]> ... </type>" sections and empty "<type name/>"
// sections, "%define NAME value" with $NAME and ${NAME} substitution,
// $(NAME) from the environment, "$$" for a literal dollar, "%include PATH"
// relative to the including file (with cycle detection, which ZConfig
// lacks), and "%import PKG", accepted and otherwise ignored because the
// Python components it would load (ZEO, ZODB, ...) are built in here.
// Section types, section names and key names are case-insensitive, as in
// ZConfig, which lower-cases all three.
//
// The schema layer (Schema, SectionType, Key, Datatype) says which
// sections and keys exist, their datatypes, defaults, whether they are
// required or may repeat, and which section types a program accepts but
// ignores (zdctl reading a zeo.conf that also holds <zeo> and storages,
// runzeo reading one that holds <runner>). Schema.LoadFile (a file),
// Schema.Load (a reader) and Schema.Check (an already parsed tree) return
// a Node tree with typed values, or an *Error naming the file, line, key
// and value. Error messages put ZConfig's wording first, then the place
// in ZConfig's "(line N, in file:///path)" form, then the key and the
// section, e.g. "not a valid boolean value: 'maybe' (line 3, in
// file:///srv/zeo/etc/zeoctl.conf) for key 'daemon' in <runner>".
//
// Hostile input cannot exhaust memory or the stack: see MaxFileSize,
// MaxIncludeDepth, MaxNesting, MaxValueLen and MaxExpansion.
// Command-line overrides in the form of ZConfig's cmdline module
// ("section/key=value", zdctl's -X) are applied on top of a file: an
// override replaces every value the file gave that key.
//
// The schemas that zdkit's programs use are defined here as well
// (ZDaemonSchema for zdctl/zdrun, ZEOSchema for runzeo), mirroring the
// way ZConfig ships the logger components beside its parser.
//
// # Loading a file and reading values
//
//	cfg, err := zconfig.ZDaemonSchema.LoadFile(path, "runner/backoff-limit=5")
//	if err != nil {
//		// err is a *zconfig.Error: print it as it is (it names file,
//		// line, key and value) and test its kind with errors.Is, e.g.
//		// errors.Is(err, zconfig.ErrUnknownKey). zdctl exits 2.
//	}
//	r := cfg.Section("runner")             // never nil: the schema requires it
//	argv := r.Strings("program")           // word list
//	daemon := r.Bool("daemon")             // default true
//	limit := r.Int("backoff-limit")        // default 10
//	stop := r.Duration("stop-timeout")     // integer seconds as a Duration
//	codes := r.Ints("exit-codes")          // []int{0, 2}
//	umask := r.Int("umask")                // 0o22
//	given := r.Has("backoff-limit")        // set by the file or -X, not defaulted
//	env := cfg.Section("environment").Pairs() // names keep their case; nil-safe
//	ev := r.Section("eventlog")            // <runner><eventlog> wins over the top one
//	if ev == nil {
//		ev = cfg.Section("eventlog")       // may be nil: no event log configured
//	}
//	for _, lf := range ev.Sections("logfile") {
//		_ = lf.String("path")              // "STDOUT", "STDERR" or a file
//		_ = lf.Int("level")                // Python level number; String gives "info"
//	}
//
// For runzeo:
//
//	cfg, err := zconfig.ZEOSchema.LoadFile(path, overrides...)
//	z := cfg.Section("zeo")
//	addr := z.Address("address")           // Network "tcp", "tcp6" or "unix"
//	for _, st := range cfg.Storages() {    // file order
//		_ = st.Name                        // storage name; the unnamed one is "1"
//		_ = st.Type                        // "filestorage", "mappingstorage", ...
//	}
//	if ssl := z.Section("ssl"); ssl != nil { ... }
//
// Every accessor is safe on a nil *Node and on an absent key (zero value)
// and never panics. Overrides follow ZConfig's cmdline module (zdctl's
// and runzeo's -X): "key=value" for a top-level key,
// "section/key=value" where section is a section type or name, and
// deeper paths for nested sections ("runner/eventlog/level=debug"). An
// override replaces every value the file gives that key; an override no
// section claims is an error.
package zconfig
