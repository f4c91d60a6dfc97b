package layout

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docPackage is a package path as docs/architecture.md writes it.
var docPackage = regexp.MustCompile("`((?:sensor|router)/(?:cmd|internal|e2e|faulttest|rulecheck|condition)[a-z0-9/_-]*)`")

// TestArchitectureDocListsEveryPackage: docs/architecture.md names every
// package of the sensor and router modules, and no package that does not
// exist.
func TestArchitectureDocListsEveryPackage(t *testing.T) {
	b, err := os.ReadFile("../../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range docPackage.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	exist := map[string]bool{}
	for _, mod := range []struct{ dir, path string }{
		{"../..", "github.com/harrier-security/harrier/sensor"},
		{"../../../router", "github.com/harrier-security/harrier/router"},
	} {
		for _, p := range listPackages(t, mod.dir, "./...") {
			rel, ok := strings.CutPrefix(p.ImportPath, mod.path)
			if !ok {
				t.Fatalf("%s is not in module %s", p.ImportPath, mod.path)
			}
			exist[mod.path[strings.LastIndex(mod.path, "/")+1:]+rel] = true
		}
	}
	var missing, stale []string
	for p := range exist {
		if !documented[p] {
			missing = append(missing, p)
		}
	}
	for p := range documented {
		if !exist[p] {
			stale = append(stale, p)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("packages missing from docs/architecture.md (add one line each):\n  %s", strings.Join(missing, "\n  "))
	}
	if len(stale) > 0 {
		t.Errorf("docs/architecture.md names packages that do not exist:\n  %s", strings.Join(stale, "\n  "))
	}
}
