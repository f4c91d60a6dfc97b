package layout

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/harrier-security/harrier/sensor"

// stage is where a package of the sensor module sits in the flow. A
// package may import packages of its own stage or earlier ones, never
// later ones. The syscall and Kubernetes audit sources share a stage and
// must not import each other (lane).
type stage struct {
	rank int
	lane string
}

var stages = []struct {
	prefix string // module-relative path or path prefix (ending in /)
	stage  stage
}{
	{"internal/fields", stage{0, ""}},
	{"internal/syscall/", stage{1, "syscall"}},
	{"internal/k8saudit", stage{1, "k8saudit"}},
	{"internal/k8saudit/", stage{1, "k8saudit"}},
	{"internal/engine/", stage{2, ""}},
	{"internal/ship/", stage{3, ""}},
	// What is not the pipeline may use any of it, but nothing that runs
	// the sensor.
	{"internal/tools/", stage{4, ""}},
	{"internal/testkit/", stage{4, ""}},
	{"internal/layout", stage{4, ""}},
	// The rules validation the router's fleet push calls (exported API).
	{"rulecheck", stage{4, ""}},
	// The condition language for callers' own fields (the router's routing).
	{"condition", stage{4, ""}},
	{"internal/config", stage{5, ""}},
	{"internal/daemon", stage{5, ""}},
	{"cmd/", stage{6, ""}},
	{"e2e", stage{6, ""}},
	{"faulttest", stage{6, ""}},
}

func stageOf(rel string) (stage, bool) {
	for _, s := range stages {
		if rel == s.prefix || (strings.HasSuffix(s.prefix, "/") && strings.HasPrefix(rel, s.prefix)) {
			return s.stage, true
		}
	}
	return stage{}, false
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -deps`-style listing of the sensor module.
func listPackages(t *testing.T, dir string, pattern string) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", pattern)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %s: %v: %s", pattern, err, ee.Stderr)
		}
		t.Fatalf("go list %s: %v", pattern, err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %s found no package", pattern)
	}
	return pkgs
}

func rel(path string) (string, bool) {
	r, ok := strings.CutPrefix(path, module+"/")
	return r, ok
}

// TestNoImportLaterInFlow: no sensor package imports one of a later stage
// (or of the other source's lane), and every package has a stage.
func TestNoImportLaterInFlow(t *testing.T) {
	for _, p := range listPackages(t, "../..", "./...") {
		from, _ := rel(p.ImportPath)
		fs, ok := stageOf(from)
		if !ok {
			t.Errorf("%s has no stage: add it to stages in this test and to docs/architecture.md", from)
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			ts, ok := stageOf(to)
			if !ok {
				continue // reported as the importing package's own entry
			}
			if ts.rank > fs.rank {
				t.Errorf("%s (stage %d) imports %s, later in the flow (stage %d)", from, fs.rank, to, ts.rank)
			}
			if ts.rank == fs.rank && fs.lane != "" && ts.lane != "" && fs.lane != ts.lane {
				t.Errorf("%s (%s source) imports %s (%s source)", from, fs.lane, to, ts.lane)
			}
		}
	}
}

// TestSyscallSourceKnowsNoRules: the syscall source takes an interest set;
// nothing it depends on, directly or not, is the rules engine.
func TestSyscallSourceKnowsNoRules(t *testing.T) {
	for _, p := range listPackages(t, "../..", "./internal/syscall/...") {
		for _, d := range p.Deps { // every package it needs, directly or not
			if to, ok := rel(d); ok && strings.HasPrefix(to, "internal/engine/") {
				t.Errorf("%s depends on %s", p.ImportPath, to)
			}
		}
	}
}

// TestStageOf checks the stage table itself on a few paths.
func TestStageOf(t *testing.T) {
	for _, tc := range []struct {
		path string
		rank int
		ok   bool
	}{
		{"internal/fields", 0, true},
		{"internal/syscall/source", 1, true},
		{"internal/k8saudit", 1, true},
		{"internal/k8saudit/webhook", 1, true},
		{"internal/engine/rules", 2, true},
		{"internal/ship/spool", 3, true},
		{"internal/daemon", 5, true},
		{"cmd/harrier-sensor", 6, true},
		{"internal/fieldsx", 0, false},
		{"internal/newthing", 0, false},
	} {
		s, ok := stageOf(tc.path)
		if ok != tc.ok || (ok && s.rank != tc.rank) {
			t.Errorf("stageOf(%q) = %v, %v; want rank %d, %v", tc.path, s, ok, tc.rank, tc.ok)
		}
	}
}
