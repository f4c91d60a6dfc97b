package ruletest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// repoRoot is the repository root seen from this package's directory.
var repoRoot = filepath.Join("..", "..", "..", "..")

func harrierRulesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "rules", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rules files under %s/rules (%v)", repoRoot, err)
	}
	sort.Strings(files)
	return files
}

// TestHarrierRulesValidate is `rules validate` on Harrier's own rulesets:
// no errors and no warnings.
func TestHarrierRulesValidate(t *testing.T) {
	for _, file := range harrierRulesFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			rs, diags, err := LoadRules([]string{file})
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if len(rs.Rules()) == 0 {
				t.Fatal("no rules loaded")
			}
		})
	}
}

// TestHarrierRuleTests runs every test file under rules/tests against the
// rules files it names (Harrier's rules, plus a site tuning file for
// tuning.yaml): every case must pass. Cases whose shared data is absent are
// skipped with the reason logged.
func TestHarrierRuleTests(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(repoRoot, "rules", "tests", "*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no test files under rules/tests (%v)", err)
	}
	for _, path := range tests {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Rules) == 0 {
				t.Fatal("test file names no rules files")
			}
			rs, diags, err := LoadRules(f.Rules)
			for _, d := range diags {
				t.Errorf("%s", d)
			}
			if err != nil {
				t.Fatalf("load rules: %v", err)
			}
			runner, err := NewRunner(rs)
			if err != nil {
				t.Fatal(err)
			}
			rep := &Report{Results: runner.RunFile(f)}
			var buf bytes.Buffer
			rep.Write(&buf, false)
			if !rep.OK() {
				t.Errorf("rule tests failed:\n%s", buf.String())
			} else {
				t.Logf("%s", buf.String())
			}
		})
	}
}

// falcoRules are Falco's rules files in the shared test data (absent in a
// plain clone of the repository).
var falcoRules = []string{
	filepath.Join(repoRoot, "..", "shared", "testdata", "falco", "rules", "falco_rules.yaml"),
	filepath.Join(repoRoot, "..", "shared", "testdata", "falco", "rules", "k8s_audit_rules.yaml"),
}

func definedNames(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := yaml.Unmarshal(data, &items); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	names := map[string]string{}
	for _, it := range items {
		for _, kind := range []string{"rule", "macro", "list"} {
			if n, ok := it[kind].(string); ok {
				names[kind+" "+n] = path
			}
		}
	}
	return names
}

// TestHarrierRulesBesideFalco: Harrier's rules can be loaded beside
// Falco's. No rule, macro or list of ours shares a name with one of
// Falco's (a later file would silently replace it), and, when Falco's
// files load on their own, loading both in either order gives no errors
// and Harrier's rule tests still pass.
func TestHarrierRulesBesideFalco(t *testing.T) {
	for _, f := range falcoRules {
		if _, err := os.Stat(f); err != nil {
			require.Missing(t, fmt.Sprintf("Falco's rules are not here (%v): run in the Harrier workspace to test against them", err))
		}
	}
	falco := map[string]string{}
	for _, f := range falcoRules {
		for n, p := range definedNames(t, f) {
			falco[n] = p
		}
	}
	ours := harrierRulesFiles(t)
	for _, f := range ours {
		for n := range definedNames(t, f) {
			if p, clash := falco[n]; clash {
				t.Errorf("%s: %s is also defined by %s", f, n, p)
			}
		}
	}
	if _, _, err := LoadRules(falcoRules); err != nil {
		t.Fatalf("Falco's rules do not load on their own: %v", err)
	}
	// Both orders load, and Harrier's rule tests still pass with Falco's
	// rules beside them (rules are told apart by name, lists and macros
	// do not interfere).
	for _, files := range [][]string{append(append([]string{}, falcoRules...), ours...), append(append([]string{}, ours...), falcoRules...)} {
		rs, _, err := LoadRules(files)
		if err != nil {
			t.Errorf("load %v: %v", files, err)
			continue
		}
		runner, err := NewRunner(rs)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"k8s_audit.yaml", "syscall.yaml"} {
			f, err := ParseFile(filepath.Join(repoRoot, "rules", "tests", name))
			if err != nil {
				t.Fatal(err)
			}
			rep := &Report{Results: runner.RunFile(f)}
			if !rep.OK() {
				var buf bytes.Buffer
				rep.Write(&buf, false)
				t.Errorf("%s with Falco's rules loaded too (%s first):\n%s", name, filepath.Base(files[0]), buf.String())
			}
		}
	}
}

// TestHarrierRulesFirstMatch: with Falco's default rule_matching: first,
// where Harrier's rules overlap the most telling one fires. Each case of
// rules/tests named here fires several rules under rule_matching: all.
func TestHarrierRulesFirstMatch(t *testing.T) {
	rs, _, err := rules.LoadFiles(harrierRulesFiles(t), rules.Options{Registries: sources.Registries(), Matching: rules.MatchFirst})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"application starts sh -c in its container":                              "Shell Spawned by Web Server or Runtime",
		"ConfigMaps with cloud keys and passwords (shared audit file, 6 events)": "Kubernetes ConfigMap With Credentials",
		"user creates a service account in kube-system":                          "Kubernetes Service Account Created in System Namespace",
		"binding to cluster-admin (shared audit file)":                           "Kubernetes Binding to cluster-admin",
		"ClusterRole with wildcard verbs (shared audit file)":                    "Kubernetes Role With Wildcard Permissions",
		"anonymous user creates a namespace (shared audit file)":                 "Kubernetes Anonymous Request Allowed",
	}
	seen := 0
	for _, name := range []string{"syscall.yaml", "k8s_audit.yaml"} {
		f, err := ParseFile(filepath.Join(repoRoot, "rules", "tests", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Cases {
			rule, ok := want[c.Name]
			if !ok {
				continue
			}
			delete(want, c.Name)
			evs, err := f.Events(c)
			if err != nil {
				t.Logf("%s: %v", c.Name, err) // shared data absent
				continue
			}
			seen++
			for _, ev := range evs {
				var fired []string
				rs.Evaluate(ev, func(r *rules.Rule) { fired = append(fired, r.Name) })
				if len(fired) != 1 || fired[0] != rule {
					t.Errorf("%s: first match %v, want %s", c.Name, fired, rule)
				}
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("cases not found in rules/tests: %v", want)
	}
	if seen == 0 {
		t.Fatal("no case evaluated")
	}
}

// TestEveryHarrierRuleHasCases: each rule of Harrier's rulesets has at
// least one case where it must fire and one near miss where it must not,
// so a new rule cannot be added without tests.
func TestEveryHarrierRuleHasCases(t *testing.T) {
	rs, _, err := LoadRules(harrierRulesFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	fire, nofire := map[string]int{}, map[string]int{}
	tests, _ := filepath.Glob(filepath.Join(repoRoot, "rules", "tests", "*.yaml"))
	for _, path := range tests {
		f, err := ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Cases {
			for _, r := range c.Fire {
				fire[r]++
			}
			for r, n := range c.Counts {
				if n > 0 {
					fire[r]++
				} else {
					nofire[r]++
				}
			}
			for _, r := range c.NoFire {
				nofire[r]++
			}
		}
	}
	for _, r := range rs.Rules() {
		if fire[r.Name] == 0 {
			t.Errorf("rule %q has no case where it must fire", r.Name)
		}
		if nofire[r.Name] == 0 {
			t.Errorf("rule %q has no near-miss case where it must not fire", r.Name)
		}
	}
}

// TestHarrierOutputFieldsResolve: every field an output prints has a value
// in at least one of the rule's firing cases, so a responder never gets a
// field that is always <NA> (a field that exists but does not apply to the
// rule's events). Container and pod fields are exempt (host-only rules'
// cases run on the host), as are the gaps listed here on purpose.
func TestHarrierOutputFieldsResolve(t *testing.T) {
	expectedGaps := map[string]string{
		"Setuid or Setgid Bit Set/fd.name": "only fchmod has an fd; the cases use chmod and fchmodat",
	}
	rs, _, err := LoadRules(harrierRulesFiles(t))
	if err != nil {
		t.Fatal(err)
	}
	all := rules.MatchAll
	rs, err = rs.Select(rules.Selection{Matching: &all, Ops: []rules.SelectOp{{Enable: true, Rule: "*"}}})
	if err != nil {
		t.Fatal(err)
	}
	resolved := map[string]map[string]bool{}
	tests, _ := filepath.Glob(filepath.Join(repoRoot, "rules", "tests", "*.yaml"))
	for _, p := range tests {
		f, err := ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Cases {
			evs, err := f.Events(c)
			if err != nil {
				continue // skipped shared data
			}
			for _, ev := range evs {
				rs.Evaluate(ev, func(r *rules.Rule) {
					_, vals := r.Output.Render(nil, ev)
					if resolved[r.Name] == nil {
						resolved[r.Name] = map[string]bool{}
					}
					for field, v := range vals {
						_, isNull := v.Kind.(*harrierv1.FieldValue_NullValue)
						resolved[r.Name][field] = resolved[r.Name][field] || !isNull
					}
				})
			}
		}
	}
	for rule, fields := range resolved {
		for field, ok := range fields {
			if ok || strings.HasPrefix(field, "container.") || strings.HasPrefix(field, "k8s.") {
				continue
			}
			if _, gap := expectedGaps[rule+"/"+field]; gap {
				continue
			}
			t.Errorf("rule %q: output field %s is <NA> in every firing case", rule, field)
		}
	}
}
