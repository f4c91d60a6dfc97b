package syscallfields

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

const falcoRules = "../../../../../shared/testdata/falco/rules/falco_rules.yaml"

// fieldRef matches a field reference with an optional argument, the way
// the rules files write them (conditions and %outputs).
var fieldRef = regexp.MustCompile(`\b(evt|proc|thread|user|group|fd|container|k8s|fs)\.[a-z0-9_.]+(\[[^\]]*\])?`)

// TestFalcoRulesFieldsExist binds every field reference of Falco's stable
// rules against the registry, as the rules engine will at load time.
func TestFalcoRulesFieldsExist(t *testing.T) {
	data, err := os.ReadFile(falcoRules)
	if err != nil {
		require.Missing(t, fmt.Sprintf("Falco rules not available at %s: %v", falcoRules, err))
	}
	r := Registry()
	seen := map[string]bool{}
	for _, m := range fieldRef.FindAllString(string(data), -1) {
		name, arg := m, ""
		if i := strings.IndexByte(m, '['); i >= 0 {
			name, arg = m[:i], strings.Trim(m[i+1:len(m)-1], `"'`)
		}
		name = strings.TrimRight(name, ".")
		// Host names and file names in lists (registry.k8s.io/...,
		// user.log) are not fields.
		if strings.HasPrefix(name, "k8s.io") || name == "user.log" {
			continue
		}
		seen[name+"|"+arg] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) < 60 {
		t.Fatalf("found only %d field references; is the rules file right?", len(keys))
	}
	for _, k := range keys {
		name, arg, _ := strings.Cut(k, "|")
		def, dotArg, ok := r.Lookup(name)
		if !ok {
			t.Errorf("field %s used by falco_rules.yaml is not registered", name)
			continue
		}
		if dotArg != "" {
			arg = dotArg
		}
		if _, err := def.Bind(arg); err != nil {
			t.Errorf("field %s[%s]: bind: %v", name, arg, err)
		}
	}
	t.Logf("%d distinct field references bound", len(keys))
}
