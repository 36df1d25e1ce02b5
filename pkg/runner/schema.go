package runner

import "github.com/zdkit/zdkit/pkg/zconfig"

// logfileKeys are the keys of ZConfig's <logfile> handler, kept as
// strings here; pkg/logging converts them (logging.FromNode).
var logfileKeys = []zconfig.Key{
	{Name: "path"}, {Name: "format"}, {Name: "dateformat"}, {Name: "level"},
	{Name: "max-size"}, {Name: "old-files"}, {Name: "when"}, {Name: "interval"},
	{Name: "encoding"}, {Name: "delay"}, {Name: "style"}, {Name: "formatter"},
}

func eventlogType() *zconfig.SectionType {
	logfile := &zconfig.SectionType{Name: "logfile", Keys: logfileKeys}
	var others []*zconfig.SectionType
	for _, n := range []string{"syslog", "http-logger", "email-notifier", "win32-eventlog"} {
		others = append(others, &zconfig.SectionType{Name: n, AnyKeys: true})
	}
	return &zconfig.SectionType{
		Name: "eventlog",
		Keys: []zconfig.Key{{Name: "level"}, {Name: "propagate"}},
		Sections: []zconfig.Slot{
			{Types: []*zconfig.SectionType{logfile}, Multi: true},
			{Types: others, Abstract: "ZConfig.logger.handler", Multi: true},
		},
	}
}

// runnerKeys mirrors zdaemon's component.xml, with the schema defaults
// that matter for override semantics (ZdrunArgs compares a value with the
// file's, defaults included, as zdctl's _get_override does).
func runnerType() *zconfig.SectionType {
	return &zconfig.SectionType{
		Name: "runner",
		Keys: []zconfig.Key{
			{Name: "program", Type: zconfig.StringList},
			{Name: "python", Type: zconfig.ExistingPath},
			{Name: "zdrun", Type: zconfig.ExistingPath},
			{Name: "socket-name", Type: zconfig.ExistingParentDirpath, Default: "zdsock"},
			{Name: "daemon", Type: zconfig.Boolean, Default: "on"},
			{Name: "directory", Type: zconfig.ExistingParentDirectory},
			{Name: "backoff-limit", Type: zconfig.Integer, Default: "10"},
			{Name: "forever", Type: zconfig.Boolean, Default: "false"},
			{Name: "exit-codes", Type: zconfig.IntList, Default: "0,2"},
			{Name: "start-test-program", Type: zconfig.StringList},
			{Name: "start-timeout", Type: zconfig.Integer, Default: "300"},
			{Name: "stop-timeout", Type: zconfig.Integer, Default: "300"},
			{Name: "settle-time", Type: zconfig.Integer},
			{Name: "user"},
			{Name: "umask", Type: zconfig.Octal, Default: "022"},
			{Name: "hang-around", Type: zconfig.Boolean, Default: "false"},
			{Name: "default-to-interactive", Type: zconfig.Boolean, Default: "true"},
			{Name: "logfile", Type: zconfig.ExistingDirpath},
			{Name: "transcript", Type: zconfig.ExistingDirpath},
			{Name: "prompt"},
			{Name: "history-file"},
		},
		Sections: []zconfig.Slot{{Types: []*zconfig.SectionType{eventlogType()}}},
	}
}

// Schema is the zdaemon configuration schema (zdaemon's schema.xml):
// <runner> required, <environment> and <eventlog> optional. The sections
// of ZEO's combined zeo.conf are accepted and ignored, so zdctl can read
// the file runzeo reads (zeoctl).
var Schema = &zconfig.Schema{
	Name: "zdaemon",
	Root: &zconfig.SectionType{
		Sections: []zconfig.Slot{
			{Types: []*zconfig.SectionType{runnerType()}, Required: true},
			{Types: []*zconfig.SectionType{{Name: "environment", AnyKeys: true}}},
			{Types: []*zconfig.SectionType{eventlogType()}},
		},
	},
	Ignore: []string{"zeo", "filestorage", "mappingstorage", "blobstorage", "demostorage",
		"zlibstorage", "beforestorage", "zodb", "zeoclient", "ssl", "monitor"},
}
