package filter

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const falcoRulesDir = "../../../../../shared/testdata/falco/rules"

// TestParseFalcoRulesFiles parses every rule condition and macro body of
// Falco's own rules files (parse only: compiling needs the sources'
// registries, which the rules loader tests cover).
func TestParseFalcoRulesFiles(t *testing.T) {
	for _, name := range []string{"falco_rules.yaml", "k8s_audit_rules.yaml"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(falcoRulesDir, name))
			if os.IsNotExist(err) {
				require.Missing(t, fmt.Sprintf("%s absent (expected under /work/shared/testdata/falco/rules)", name))
			}
			if err != nil {
				t.Fatal(err)
			}
			var items []map[string]any
			if err := yaml.Unmarshal(data, &items); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, it := range items {
				cond, ok := it["condition"].(string)
				if !ok {
					continue
				}
				what := it["rule"]
				if what == nil {
					what = it["macro"]
				}
				n++
				e, err := Parse(cond)
				if err != nil {
					t.Errorf("%v: %v\n%s", what, err, cond)
					continue
				}
				// The printed form must parse back to the same text.
				again, err := Parse(e.String())
				if err != nil {
					t.Errorf("%v: reparse of %q: %v", what, e.String(), err)
				} else if again.String() != e.String() {
					t.Errorf("%v: print/parse not stable:\n%s\n%s", what, e.String(), again.String())
				}
			}
			if n < 50 {
				t.Errorf("only %d conditions found", n)
			}
			t.Logf("%d conditions parsed", n)
		})
	}
}
