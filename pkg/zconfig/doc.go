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
// runzeo reading one that holds <runner>). Schema.Load returns a Node tree
// with typed values, or an *Error naming the file, line, key and value.
// Command-line overrides in the form of ZConfig's cmdline module
// ("section/key=value", zdctl's -X) are applied on top of a file: an
// override replaces every value the file gave that key.
//
// The schemas that zdkit's programs use are defined here as well
// (ZDaemonSchema for zdctl/zdrun, ZEOSchema for runzeo), mirroring the
// way ZConfig ships the logger components beside its parser.
package zconfig
