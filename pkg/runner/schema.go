package runner

import "github.com/zdkit/zdkit/pkg/zconfig"

// extraRunnerKeys are zdkit's additions to <runner>, with no zdaemon
// equivalent:
//
//   - settle-time (integer milliseconds, default 50): how long a freshly
//     spawned program must stay up to count as started when there is no
//     start-test-program (zdaemon 5.2.1 counted it as started as soon
//     as it had a pid, and learnt otherwise a second later).
//   - history-file: the zdctl shell's readline history (default
//     ~/.zdctl_history); zdaemon's seed shell kept no history file.
//   - metrics-address, control-line-limit, control-idle-timeout: zdrun's
//     Prometheus endpoint and control-socket limits (docs/zdrun.md).
//     They are kept as strings here and checked by pkg/supervisor, which
//     also takes them from flags and environment variables.
//
// ZdrunKeys are the extra keys pkg/runner accepts but leaves for zdrun
// (pkg/supervisor) to read from the configuration node.
var ZdrunKeys = []string{"metrics-address", "control-line-limit", "control-idle-timeout"}

var extraRunnerKeys = []zconfig.Key{
	{Name: "settle-time", Type: zconfig.Integer},
	{Name: "history-file", Type: zconfig.String},
	{Name: "metrics-address", Type: zconfig.String},
	{Name: "control-line-limit", Type: zconfig.String},
	{Name: "control-idle-timeout", Type: zconfig.String},
}

// Schema is zconfig.ZDaemonSchema (zdaemon's schema.xml: <runner>
// required, <environment> and <eventlog> optional, ZEO's sections of a
// combined zeo.conf ignored) with extraRunnerKeys added to <runner>.
var Schema = func() *zconfig.Schema {
	rt := *zconfig.RunnerType
	rt.Keys = append(append([]zconfig.Key(nil), rt.Keys...), extraRunnerKeys...)
	root := *zconfig.ZDaemonSchema.Root
	root.Sections = append([]zconfig.Slot(nil), root.Sections...)
	for i, sl := range root.Sections {
		for j, t := range sl.Types {
			if t == zconfig.RunnerType {
				types := append([]*zconfig.SectionType(nil), sl.Types...)
				types[j] = &rt
				root.Sections[i].Types = types
			}
		}
	}
	s := *zconfig.ZDaemonSchema
	s.Root = &root
	return &s
}()

// RunnerSectionKeys lists the keys of <runner> in Schema: zdaemon's
// schema.xml keys, then zdkit's additions (the documentation test checks
// docs/zdctl.md against it).
func RunnerSectionKeys() []string {
	var keys []string
	for _, sl := range Schema.Root.Sections {
		for _, t := range sl.Types {
			if t.Name == "runner" {
				for _, k := range t.Keys {
					keys = append(keys, k.Name)
				}
				return keys
			}
		}
	}
	return keys
}
