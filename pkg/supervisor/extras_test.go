package supervisor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/runner"
	"github.com/zdkit/zdkit/pkg/zconfig"
)

// TestExtrasFromRunnerKeys: the <runner> keys are read once the schema
// accepts them (the tree here is parsed without the schema), and the
// flag and environment win over them.
func TestExtrasFromRunnerKeys(t *testing.T) {
	root, err := schemaWithExtras().Load(strings.NewReader("<runner>\n  program sleep\n  metrics-address 9100\n  control-line-limit 50\n  control-idle-timeout 2.5\n</runner>\n"), "zd.conf")
	if err != nil {
		t.Fatal(err)
	}
	opts := &runner.Options{Config: root}
	ex, err := loadExtras(opts, "", false)
	if err != nil || ex != (extras{metricsAddr: ":9100", lineLimit: 50, idleTimeout: 2500 * time.Millisecond}) {
		t.Fatalf("from the file: %+v, %v", ex, err)
	}
	t.Setenv(MetricsEnv, "127.0.0.1:1")
	t.Setenv(LineLimitEnv, "60")
	if ex, _ := loadExtras(opts, "", false); ex.metricsAddr != "127.0.0.1:1" || ex.lineLimit != 60 {
		t.Errorf("environment over the file: %+v", ex)
	}
	if ex, _ := loadExtras(opts, "127.0.0.1:2", true); ex.metricsAddr != "127.0.0.1:2" {
		t.Errorf("flag over the environment: %+v", ex)
	}
	bad, err := schemaWithExtras().Load(strings.NewReader("<runner>\n  program sleep\n  control-line-limit lots\n</runner>\n"), "zd.conf")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(LineLimitEnv, "")
	if _, err := loadExtras(&runner.Options{Config: bad}, "", false); err == nil || err.Error() != `control-line-limit: invalid line limit "lots" (a positive number of bytes)` {
		t.Errorf("bad key value: %v", err)
	}
}

// schemaWithExtras is zdaemon's schema with the three keys added to
// <runner>, as pkg/runner is asked to add them.
func schemaWithExtras() *zconfig.Schema {
	rt := *zconfig.RunnerType
	rt.Keys = append(slices.Clone(rt.Keys), zconfig.Key{Name: MetricsKey}, zconfig.Key{Name: LineLimitKey}, zconfig.Key{Name: IdleTimeoutKey})
	root := *zconfig.ZDaemonSchema.Root
	root.Sections = slices.Clone(root.Sections)
	for i, sl := range root.Sections {
		for j, typ := range sl.Types {
			if typ == zconfig.RunnerType {
				types := slices.Clone(sl.Types)
				types[j] = &rt
				root.Sections[i].Types = types
			}
		}
	}
	s := *zconfig.ZDaemonSchema
	s.Root = &root
	return &s
}
