package ruletest

import (
	"bytes"
	"path/filepath"
	"sort"
	"testing"
)

// repoRoot is the repository root seen from this package's directory.
var repoRoot = filepath.Join("..", "..", "..")

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

// TestHarrierRuleTests runs every case under rules/tests against
// Harrier's rules: every case must pass (cases whose shared data is absent
// are skipped with the reason logged).
func TestHarrierRuleTests(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(repoRoot, "rules", "tests", "*.yaml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no test files under rules/tests (%v)", err)
	}
	rs, _, err := LoadRules(harrierRulesFiles(t))
	if err != nil {
		t.Fatalf("load rules: %v", err)
	}
	runner, err := NewRunner(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range tests {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := ParseFile(path)
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
