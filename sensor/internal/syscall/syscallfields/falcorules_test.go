package syscallfields_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/fields"
	"github.com/harrier-security/harrier/sensor/internal/syscall/syscallfields"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// TestFalcoRulesCompile loads Falco's stable rules, unchanged, against this
// registry through the rules engine: every field must exist with a type
// the conditions can be compiled against.
func TestFalcoRulesCompile(t *testing.T) {
	const path = "../../../../../shared/testdata/falco/rules/falco_rules.yaml"
	if _, err := os.Stat(path); err != nil {
		require.Missing(t, fmt.Sprintf("Falco rules not available at %s", path))
	}
	rs, diags, err := rules.LoadFiles([]string{path}, rules.Options{
		Registries: map[string]*fields.Registry{syscallfields.Source: syscallfields.Registry()},
	})
	for _, d := range diags {
		t.Log(d)
	}
	if err != nil {
		t.Fatalf("falco_rules.yaml: %v", err)
	}
	n := 0
	for _, r := range rs.Rules() {
		if r.Source == syscallfields.Source {
			n++
		}
	}
	if n != 25 { // every rule of the file

		t.Fatalf("only %d syscall rules compiled", n)
	}
	t.Logf("%d syscall rules compiled", n)
}
