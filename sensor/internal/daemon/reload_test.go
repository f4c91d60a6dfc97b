package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const ruleDelete = `
- rule: Delete seen
  desc: deletions (test)
  condition: ka.verb = delete
  output: "delete id=%ka.auditid"
  priority: NOTICE
  source: k8s_audit
`

// TestReloadThatLosesTooManyRulesIsRefused: a reload leaving no enabled
// rule, or removing more than rules.reload_max_loss of them, keeps the
// running rules (counted as refused) unless rules.reload_force is set.
func TestReloadThatLosesTooManyRulesIsRefused(t *testing.T) {
	three := ruleAny + ruleCreate + ruleDelete
	tests := []struct {
		name    string
		next    string
		extra   []string
		refused bool
		want    int // enabled rules after the reload
	}{
		{"truncated file", "", nil, true, 3},
		{"two of three rules gone", ruleAny, nil, true, 3},
		{"one of three rules gone", ruleAny + ruleCreate, nil, false, 2},
		{"every rule disabled", three + "\n- rule: Any audit event\n  enabled: false\n- rule: Create seen\n  enabled: false\n- rule: Delete seen\n  enabled: false\n", nil, true, 3},
		{"a larger share allowed", ruleAny, []string{"rules.reload_max_loss=0.7"}, false, 1},
		{"forced", "", []string{"rules.reload_force=true"}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rulesFile := writeFile(t, "rules.yaml", three)
			extra := append([]string{"rules.watch=false"}, tc.extra...)
			d, err := New(testConfigWith(t, "127.0.0.1:1", []string{rulesFile}, extra), Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := os.WriteFile(filepath.Join(filepath.Dir(rulesFile), "rules.yaml"), []byte(tc.next), 0o600); err != nil {
				t.Fatal(err)
			}
			err = d.Reload()
			if tc.refused != (err != nil) {
				t.Fatalf("Reload: %v; refused want %v", err, tc.refused)
			}
			if tc.refused && !strings.Contains(err.Error(), "enable") {
				t.Fatalf("refusal does not say why: %v", err)
			}
			if got := enabledRules(d.Ruleset()); got != tc.want {
				t.Fatalf("%d rules enabled after the reload, want %d", got, tc.want)
			}
			refusals := testutil.ToFloat64(d.m.reloads.WithLabelValues("refused"))
			if want := map[bool]float64{true: 1, false: 0}[tc.refused]; refusals != want {
				t.Fatalf("refused reloads counted %v, want %v", refusals, want)
			}
			if got := testutil.ToFloat64(d.m.rulesEnabled); int(got) != tc.want {
				t.Fatalf("harrier_sensor_rules_enabled %v, want %d", got, tc.want)
			}
		})
	}
}
