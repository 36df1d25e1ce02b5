package zconfig

// The schemas of zdkit's programs, written from the XML schemas of
// zdaemon (schema.xml, component.xml), ZEO (server.xml, schema.xml,
// zeoctl.xml), ZODB (component.xml) and ZConfig's logger component, with
// the fixes the project decided on (zdaemon fault 1 in
// docs/design/supervision.md: stop-timeout defaults to 300 seconds in
// every mode).

// Handler section types of ZConfig's logger component (the
// ZConfig.logger.handler abstract type). Every handler shares the keys
// of ZConfig.logger.base-log-handler.
func baseHandlerKeys(format string) []Key {
	return []Key{
		{Name: "formatter", Type: String}, // a Python dotted name; accepted, not used
		{Name: "dateformat", Type: String, Default: "%Y-%m-%dT%H:%M:%S"},
		{Name: "level", Type: LoggingLevel, Default: "notset"},
		{Name: "style", Type: LogFormatStyle, Default: "classic"},
		{Name: "arbitrary-fields", Type: Boolean, Default: "false"},
		// The format keeps ZConfig's escapes (\n, \t, ...) as written;
		// the logging package expands them as ZConfig's escaped_string
		// datatype does.
		{Name: "format", Type: String, Default: format},
	}
}

// DefaultLogFormat is the <logfile> format default of ZConfig, with the
// "\n" escape still unexpanded as it is in ZConfig's schema.
const DefaultLogFormat = `------\n%(asctime)s %(levelname)s %(name)s %(message)s`

var (
	// LogFileType is <logfile>: path (a file, STDOUT or STDERR) with
	// rotation settings.
	LogFileType = &SectionType{Name: "logfile", Keys: append(baseHandlerKeys(DefaultLogFormat),
		Key{Name: "path", Type: String, Required: true},
		Key{Name: "old-files", Type: Integer, Default: "0"},
		Key{Name: "max-size", Type: ByteSize, Default: "0"},
		Key{Name: "when", Type: String},
		Key{Name: "interval", Type: Integer, Default: "0"},
		Key{Name: "encoding", Type: String},
		Key{Name: "delay", Type: Boolean, Default: "false"},
	)}
	// SyslogType is <syslog>.
	SyslogType = &SectionType{Name: "syslog", Keys: append(baseHandlerKeys(`%(name)s %(message)s`),
		Key{Name: "facility", Type: String, Default: "user"},
		Key{Name: "address", Type: SocketConnectionAddress, Default: "localhost:514"},
	)}
	// HTTPLoggerType is <http-logger>.
	HTTPLoggerType = &SectionType{Name: "http-logger", Keys: append(baseHandlerKeys(`%(asctime)s %(levelname)s %(name)s %(message)s`),
		Key{Name: "url", Type: String, Default: "http://localhost/"},
		Key{Name: "method", Type: String, Default: "GET"},
	)}
	// EmailNotifierType is <email-notifier>.
	EmailNotifierType = &SectionType{Name: "email-notifier", Keys: append(baseHandlerKeys(`%(asctime)s %(levelname)s %(name)s %(message)s`),
		Key{Name: "from", Type: String, Required: true},
		Key{Name: "to", Type: String, Required: true, Multi: true},
		Key{Name: "subject", Type: String, Default: "Message from Zope"},
		Key{Name: "smtp-server", Type: SocketConnectionAddress, Default: "localhost"},
		Key{Name: "smtp-username", Type: String},
		Key{Name: "smtp-password", Type: String},
	)}
	// Win32EventLogType is <win32-eventlog>, accepted for completeness.
	Win32EventLogType = &SectionType{Name: "win32-eventlog", Keys: append(baseHandlerKeys(`%(levelname)s %(name)s %(message)s`),
		Key{Name: "appname", Type: String, Default: "Zope"},
	)}

	handlerSlot = Slot{
		Types:    []*SectionType{LogFileType, SyslogType, HTTPLoggerType, EmailNotifierType, Win32EventLogType},
		Abstract: "ZConfig.logger.handler",
		Multi:    true,
	}

	// EventLogType is <eventlog>: level (default info) and any number of
	// handlers, <logfile> being the usual one.
	EventLogType = &SectionType{Name: "eventlog",
		Keys:     []Key{{Name: "level", Type: LoggingLevel, Default: "info"}},
		Sections: []Slot{handlerSlot},
	}
	// LoggerType is ZConfig's named <logger> (also a ZConfig.logger.log).
	LoggerType = &SectionType{Name: "logger",
		Keys: []Key{
			{Name: "level", Type: LoggingLevel, Default: "info"},
			{Name: "propagate", Type: Boolean, Default: "true"},
			{Name: "name", Type: String},
		},
		Sections: []Slot{handlerSlot},
	}

	// EnvironmentType is zdaemon's <environment>: any NAME value lines,
	// names keeping their case (read them with Node.Pairs or Node.Env).
	EnvironmentType = &SectionType{Name: "environment", AnyKeys: true}

	// RunnerType is zdaemon's <runner>, every key of zdaemon 5.2.1's
	// component.xml.
	RunnerType = &SectionType{Name: "runner",
		Keys: []Key{
			{Name: "program", Type: StringList, Required: true},
			// zdaemon checks it exists; zdkit has no Python to run, so
			// the key is accepted and ignored (docs/migrating.md).
			{Name: "python", Type: String},
			{Name: "zdrun", Type: ExistingPath},
			{Name: "socket-name", Type: ExistingParentDirpath, Default: "zdsock"},
			{Name: "daemon", Type: Boolean, Default: "on"},
			{Name: "directory", Type: ExistingParentDirectory},
			{Name: "backoff-limit", Type: Integer, Default: "10"},
			{Name: "forever", Type: Boolean, Default: "false"},
			{Name: "exit-codes", Type: IntList, Default: "0,2"},
			{Name: "start-test-program", Type: StringList},
			{Name: "start-timeout", Type: Integer, Default: "300"},
			// zdaemon's schema has the same default, but its command
			// line had none, so stop hung forever without a config
			// file (zdaemon fault 1); zdkit uses 300 everywhere.
			{Name: "stop-timeout", Type: Integer, Default: "300"},
			{Name: "user", Type: String},
			{Name: "umask", Type: Octal, Default: "022"},
			{Name: "hang-around", Type: Boolean, Default: "false"},
			{Name: "default-to-interactive", Type: Boolean, Default: "true"},
			{Name: "logfile", Type: ExistingDirpath},
			// zdoptions' default, not the schema's: the transcript of a
			// daemon goes nowhere unless named.
			{Name: "transcript", Type: ExistingDirpath, Default: "/dev/null"},
			{Name: "prompt", Type: String},
		},
		Sections: []Slot{{Types: []*SectionType{EventLogType, LoggerType}, Abstract: "ZConfig.logger.log"}},
	}
)

// SSLType is the server <ssl> subsection of <zeo> (ZEO 5 server.xml).
var SSLType = &SectionType{Name: "ssl",
	Keys: []Key{
		{Name: "certificate", Type: ExistingDirpath, Required: true},
		{Name: "key", Type: ExistingDirpath},
		{Name: "password-function", Type: String},
		// A CA file, a directory of CA certificates, or DYNAMIC.
		{Name: "authenticate", Type: String, Required: true},
	},
}

// sslHint is what the ZEO 3 digest-auth keys say: TLS replaced them.
const sslHint = "ZEO 3 digest authentication was removed in ZEO 5 and is not offered; " +
	"use an <ssl> section in <zeo> with certificate, key and authenticate (client certificates) instead"

// ZEOType is runzeo's <zeo> section (ZEO 6.0's ZEO/server.xml).
var ZEOType = &SectionType{Name: "zeo",
	Keys: []Key{
		{Name: "address", Type: SocketBindingAddress, Required: true},
		{Name: "read-only", Type: Boolean, Default: "false"},
		{Name: "invalidation-queue-size", Type: Integer, Default: "100"},
		{Name: "invalidation-age", Type: Float},
		{Name: "transaction-timeout", Type: Integer},
		{Name: "pid-filename", Type: ExistingDirpath},
		{Name: "client-conflict-resolution", Type: Boolean, Default: "false"},
		{Name: "msgpack", Type: Boolean},
		// The 2003 text monitor port, removed in ZEO 5, is offered again
		// (docs/runzeo.md).
		{Name: "monitor-address", Type: SocketBindingAddress},
		{Name: "metrics-address", Type: SocketBindingAddress}, // zdkit: runzeo's HTTP metrics, pprof, /status
		{Name: "max-frame", Type: ByteSize},                   // zdkit: largest incoming frame
		{Name: "max-pending-stores", Type: Integer},           // zdkit: stores per transaction before vote
		{Name: "max-connections", Type: Integer},              // zdkit: open client connections
		{Name: "handshake-timeout", Type: TimeInterval},       // zdkit: seconds to finish the handshake
		{Name: "authentication-protocol", Obsolete: sslHint},
		{Name: "authentication-database", Obsolete: sslHint},
		{Name: "authentication-realm", Obsolete: sslHint},
	},
	Sections: []Slot{{Types: []*SectionType{SSLType}}},
}

// Storage section types (ZODB component.xml, ZEO component.xml), the
// implementations of the abstract type ZODB.storage.
var (
	FileStorageType = &SectionType{Name: "filestorage",
		Keys: []Key{
			{Name: "path", Type: ExistingDirpath, Required: true},
			{Name: "blob-dir", Type: String},
			{Name: "create", Type: Boolean, Default: "false"},
			{Name: "read-only", Type: Boolean, Default: "false"},
			{Name: "quota", Type: ByteSize},
			{Name: "packer", Type: String},
			{Name: "pack-gc", Type: Boolean, Default: "true"},
			{Name: "pack-keep-old", Type: Boolean, Default: "true"},
		},
	}
	MappingStorageType = &SectionType{Name: "mappingstorage",
		Keys: []Key{{Name: "name", Type: String, Default: "Mapping Storage"}},
	}
	DemoStorageType = &SectionType{Name: "demostorage",
		Keys: []Key{{Name: "name", Type: String}},
	}
	BlobStorageType = &SectionType{Name: "blobstorage",
		Keys: []Key{{Name: "blob-dir", Type: String, Required: true}},
	}
	// clientKeys are the keys ZEO's <clientstorage> and ZODB's
	// <zeoclient> share.
	clientKeys = []Key{
		{Name: "server", Type: SocketConnectionAddress, Required: true, Multi: true},
		{Name: "storage", Type: String, Default: "1"},
		{Name: "cache-size", Type: ByteSize, Default: "20MB"},
		{Name: "blob-dir", Type: String},
		{Name: "shared-blob-dir", Type: Boolean, Default: "false"},
		{Name: "blob-cache-size", Type: ByteSize},
		{Name: "client-label", Type: String},
		{Name: "name", Type: String},
		{Name: "client", Type: String},
		{Name: "var", Type: String},
		{Name: "read-only", Type: Boolean, Default: "false"},
		{Name: "read-only-fallback", Type: Boolean, Default: "false"},
		{Name: "wait", Type: Boolean, Default: "true"},
		{Name: "drop-cache-rather-verify", Type: Boolean, Default: "false"},
	}
	clientStorageKeys = append(append([]Key(nil), clientKeys...),
		Key{Name: "cache-path", Type: String},
		Key{Name: "blob-cache-size-check", Type: Integer, Default: "10"},
		Key{Name: "server-sync", Type: Boolean, Default: "false"},
		Key{Name: "wait-timeout", Type: Integer, Default: "30"},
	)
	// ZEOClientType is ZODB 6 component.xml's <zeoclient> (ZODB.config's
	// ZEOClient), whose keys differ from ZEO's <clientstorage>: the
	// disconnect polls and credentials that ZEO 6 ClientStorage accepts
	// and ignores, no default for blob-cache-size-check, no cache-path,
	// server-sync, wait-timeout or <ssl>.
	ZEOClientType = &SectionType{Name: "zeoclient", Keys: append(append([]Key(nil), clientKeys...),
		Key{Name: "blob-cache-size-check", Type: Integer},
		Key{Name: "min-disconnect-poll", Type: Integer, Default: "5"},
		Key{Name: "max-disconnect-poll", Type: Integer, Default: "300"},
		Key{Name: "username", Type: String},
		Key{Name: "password", Type: String},
		Key{Name: "realm", Type: String},
	)}
	ClientStorageType = &SectionType{Name: "clientstorage", Keys: clientStorageKeys}

	// PostgreSQLType is RelStorage's <postgresql> adapter section
	// (RelStorage 4.2 component.xml); driver is accepted and ignored.
	PostgreSQLType = &SectionType{Name: "postgresql", Package: "relstorage",
		Keys: []Key{
			{Name: "driver", Type: String, Default: "auto"},
			{Name: "dsn", Type: String, Default: ""},
		},
	}
	// RelStorageType is RelStorage's <relstorage> section (RelStorage 4.2
	// component.xml), every key it knows; runzeo refuses, naming them,
	// those it does not implement.
	RelStorageType = &SectionType{Name: "relstorage", Package: "relstorage",
		Keys: []Key{
			{Name: "name", Type: String},
			{Name: "read-only", Type: Boolean, Default: "false"},
			{Name: "blob-dir", Type: String},
			{Name: "shared-blob-dir", Type: Boolean, Default: "false"},
			{Name: "blob-cache-size", Type: ByteSize},
			{Name: "blob-cache-size-check", Type: Integer},
			{Name: "blob-cache-size-check-external", Type: Boolean, Default: "false"},
			{Name: "blob-chunk-size", Type: ByteSize},
			{Name: "keep-history", Type: Boolean, Default: "true"},
			{Name: "replica-conf", Type: String},
			{Name: "ro-replica-conf", Type: String},
			{Name: "replica-timeout", Type: Float, Default: "600.0"},
			{Name: "revert_when_stale", Type: Boolean, Default: "false"},
			{Name: "poll-interval", Type: Float},
			{Name: "pack-gc", Type: Boolean, Default: "true"},
			{Name: "pack-prepack-only", Type: Boolean, Default: "false"},
			{Name: "pack-skip-prepack", Type: Boolean, Default: "false"},
			{Name: "pack-batch-timeout", Type: Float},
			{Name: "pack-commit-busy-delay", Type: Float},
			{Name: "cache-servers", Type: String},
			{Name: "cache-module-name", Type: String},
			{Name: "cache-prefix", Type: String},
			{Name: "cache-local-mb", Type: Integer},
			{Name: "cache-local-storage", Type: String},
			{Name: "cache-local-dir", Type: String},
			{Name: "cache-local-dir-count", Type: Integer},
			{Name: "cache-local-dir-read-count", Type: Integer},
			{Name: "cache-local-dir-compress", Type: Boolean},
			{Name: "cache-local-dir-write-max-size", Type: ByteSize},
			{Name: "cache-local-object-max", Type: ByteSize},
			{Name: "cache-local-compression", Type: String},
			{Name: "cache-delta-size-limit", Type: Integer},
			{Name: "commit-lock-timeout", Type: Integer},
			{Name: "commit-lock-id", Type: Integer},
			{Name: "create-schema", Type: Boolean, Default: "true"},
		},
		Sections: []Slot{{Types: []*SectionType{PostgreSQLType}, Abstract: "relstorage.adapter"}},
	}

	// StorageTypes are the section types of the abstract ZODB.storage.
	StorageTypes = []*SectionType{FileStorageType, MappingStorageType, DemoStorageType,
		BlobStorageType, ZEOClientType, ClientStorageType, RelStorageType}
)

// StorageAbstract is the name of ZODB's abstract storage section type.
const StorageAbstract = "ZODB.storage"

func init() {
	// Storages nest (a demostorage's base and changes, a blobstorage's
	// base), so these slots are filled once all types exist.
	DemoStorageType.Sections = []Slot{{Types: StorageTypes, Abstract: StorageAbstract, Multi: true}}
	BlobStorageType.Sections = []Slot{{Types: StorageTypes, Abstract: StorageAbstract}}
	clientSSL := &SectionType{Name: "ssl", Keys: []Key{
		{Name: "certificate", Type: ExistingDirpath},
		{Name: "key", Type: ExistingDirpath},
		{Name: "password-function", Type: String},
		{Name: "authenticate", Type: String},
		{Name: "check-hostname", Type: Boolean, Default: "true"},
		{Name: "server-hostname", Type: String},
	}}
	ClientStorageType.Sections = []Slot{{Types: []*SectionType{clientSSL}}}
}

// zeoSections are the section types of a combined zeo.conf that zdctl
// and zdrun accept and skip.
var zeoSections = []string{"zeo", "filestorage", "mappingstorage", "demostorage",
	"blobstorage", "zeoclient", "clientstorage", "relstorage"}

// ZDaemonSchema is zdaemon's schema.xml for zdctl and zdrun: <runner>
// (required), <environment> and <eventlog>. The <zeo> and storage
// sections of a combined zeo.conf (the Oct 2003+ mkzeoinst layout, and
// ZEO's zeoctl.xml) are accepted and ignored.
var ZDaemonSchema = &Schema{
	Name: "zdaemon",
	Root: &SectionType{Sections: []Slot{
		{Types: []*SectionType{RunnerType}, Required: true},
		{Types: []*SectionType{EnvironmentType}},
		{Types: []*SectionType{EventLogType}},
	}},
	Ignore: zeoSections,
}

// ZEOSchema is ZEO's schema.xml for runzeo: one <zeo>, one or more
// storage sections (the section name is the storage name; an unnamed one
// becomes "1"), an optional <eventlog>; <runner> and <environment> are
// zdaemon's and are accepted and ignored.
var ZEOSchema = &Schema{
	Name: "zeo",
	Root: &SectionType{
		Sections: []Slot{
			{Types: []*SectionType{ZEOType}, Required: true},
			{Types: StorageTypes, Abstract: StorageAbstract, Required: true, Multi: true},
			{Types: []*SectionType{EventLogType}},
		},
		Check: nameStorages,
	},
	Ignore: []string{"runner", "environment"},
}

// nameStorages applies runzeo's rule for storage names: the section name
// is the storage name; at most one storage may be unnamed and it is
// called "1", which must then not be taken.
func nameStorages(root *Node) error {
	var unnamed []*Node
	named1 := false
	for _, s := range root.Storages() {
		if s.Name == "" {
			unnamed = append(unnamed, s)
		} else if s.Name == "1" {
			named1 = true
		}
	}
	if len(unnamed) > 1 {
		e := newError(ErrDuplicate, unnamed[1].Pos, "No more than one storage may be unnamed.")
		e.Key = unnamed[1].Type
		return e
	}
	if len(unnamed) == 1 {
		if named1 {
			e := newError(ErrDuplicate, unnamed[0].Pos, "Can't have an unnamed storage and a storage named 1.")
			e.Key = unnamed[0].Type
			return e
		}
		unnamed[0].Name = "1"
		unnamed[0].Unnamed = true
	}
	return nil
}

// Storages returns the storage sections (any ZODB.storage type) among a
// node's children, in file order.
func (n *Node) Storages() []*Node {
	var out []*Node
	for _, c := range n.Children() {
		for _, t := range StorageTypes {
			if c.st == t {
				out = append(out, c)
				break
			}
		}
	}
	return out
}
