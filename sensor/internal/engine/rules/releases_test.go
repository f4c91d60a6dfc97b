package rules_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
)

// sharedFalcoDir finds ../shared/testdata/falco by walking up from the
// package directory (worktrees sit deeper than the main checkout). Without
// it the test skips, unless HARRIER_REQUIRE_ALL=1 makes that a failure.
func sharedFalcoDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "falco")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
		t.Fatalf("shared/testdata/falco not found above %s", wd)
	}
	t.Skipf("shared/testdata/falco not found above %s: it exists only in the Harrier workspace", wd)
	return ""
}

// release is one row of the table in rules-releases/ of the README.
type release struct{ file, date string }

var releaseRow = regexp.MustCompile("^\\| ([a-z0-9_.-]+\\.yaml) \\| [^|]+ \\| (\\d{4}-\\d{2}-\\d{2}) \\|$")

func readReleases(t *testing.T, dir string) []release {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []release
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := releaseRow.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			out = append(out, release{m[1], m[2]})
		}
	}
	return out
}

// companionBase returns the falco_rules release a companion ruleset
// (incubating, sandbox, deprecated) loads after: the one of its date, or
// the latest before it (README of rules-releases/).
func companionBase(rels []release, c release) string {
	best := release{}
	for _, r := range rels {
		if strings.HasPrefix(r.file, "falco_rules-") && r.date <= c.date && r.date >= best.date {
			best = r
		}
	}
	return best.file
}

// Warnings Falco's loader gives for these files too: %container.info
// (LOAD_DEPRECATED_ITEM, rule_loader_compiler.cpp), unused macros and lists
// (LOAD_UNUSED_MACRO/LIST) and rules matching no or too many event types
// (LOAD_NO_EVTTYPE).
var falcoWarns = map[string]bool{
	rules.WarnDeprecatedItem: true, rules.WarnUnusedMacro: true,
	rules.WarnUnusedList: true, rules.WarnNoEvttype: true,
}

// TestEveryReleasedRulesetLoads loads every ruleset Falco has released
// (rules-releases/, README there): each with zero errors and no warning of
// a kind Falco does not give. Companion rulesets load after their
// falco_rules release, as Falco users run them.
func TestEveryReleasedRulesetLoads(t *testing.T) {
	shared := sharedFalcoDir(t)
	rels := readReleases(t, shared)
	if len(rels) != 45 {
		t.Fatalf("README lists %d released files, want 45", len(rels))
	}
	dir := filepath.Join(shared, "rules-releases")
	for _, rel := range rels {
		t.Run(rel.file, func(t *testing.T) {
			paths := []string{filepath.Join(dir, rel.file)}
			companion := !strings.HasPrefix(rel.file, "falco_rules-") && !strings.HasPrefix(rel.file, "k8s_audit_rules-")
			if companion {
				base := companionBase(rels, rel)
				if base == "" {
					t.Fatalf("no falco_rules release on or before %s", rel.date)
				}
				paths = append([]string{filepath.Join(dir, base)}, paths...)
			}
			rs, ds, err := rules.LoadFiles(paths, rules.Options{Registries: sources.Registries()})
			if err != nil {
				t.Fatalf("load %v:\n%v", paths, err)
			}
			codes := map[string]int{}
			for _, d := range ds.Warnings() {
				codes[d.Code]++
				if !falcoWarns[d.Code] {
					t.Errorf("warning Falco does not give: %s [%s]", d, d.Code)
				}
			}
			if len(rs.Rules()) == 0 {
				t.Fatalf("no rules compiled from %v", paths)
			}
			own := 0
			for _, r := range rs.Rules() {
				if r.Pos.File == paths[len(paths)-1] {
					own++
				}
			}
			if own == 0 {
				t.Errorf("%s: none of its rules compiled", rel.file)
			}
			t.Logf("%d rules (%d from %s), warnings by code: %v", len(rs.Rules()), own, rel.file, codes)
		})
	}
}
