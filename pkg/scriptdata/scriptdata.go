package scriptdata

import (
	"os"
	"path/filepath"

	"github.com/rogpeppe/go-internal/testscript"
)

// Copy returns a testscript Setup that copies each of names (paths under
// testdata/) into the script's work directory under its base name.
func Copy(names ...string) func(*testscript.Env) error {
	return func(env *testscript.Env) error {
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join("testdata", n))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(env.WorkDir, filepath.Base(n)), b, 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}
