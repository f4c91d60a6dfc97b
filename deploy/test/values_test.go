package deploytest

import (
	"path/filepath"
	"strings"
	"testing"
)

// ci/all-options-values.yaml sets every value of values.yaml, so the
// "every option" render really covers every option.
func TestAllOptionsCoversEveryValue(t *testing.T) {
	table, err := valuesTable(readFile(t, filepath.Join(chartDir(t), "values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	// Values that switch off what the file turns on; the variations of
	// TestChartRendersStrictly render them.
	exempt := map[string]bool{"secrets.existingSecret": true, "router.persistence.existingClaim": true, "sensor.routerAddress": true}
	set := map[string]bool{}
	flatKeys("", loadYAML(t, filepath.Join(chartDir(t), allOptions)), set)
	for _, line := range strings.Split(table, "\n") {
		f := strings.Split(line, "`")
		if len(f) < 2 || !strings.HasPrefix(line, "| `") {
			continue
		}
		key := f[1]
		covered := set[key]
		for k := range set {
			covered = covered || strings.HasPrefix(k, key+".")
		}
		if !covered && !exempt[key] {
			t.Errorf("%s does not set %s", allOptions, key)
		}
	}
}
