package falcolive

import (
	"fmt"
	"slices"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/engine/rules"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

// cannotFire are the stable rules no live test fires here, and why.
var cannotFire = map[string]string{
	"Contact K8S API Server From Container":    "needs fd.sip.name to resolve kubernetes.default.svc.cluster.local, which exists only inside a cluster",
	"Debugfs Launched in Privileged Container": "needs container.privileged, which only a container runtime reports",
}

// Every stable syscall rule of Falco's file is fired by a live test here
// or listed in cannotFire with the reason: a rule added to the file later
// fails this test until it is covered or explained.
func TestEveryStableRuleIsCovered(t *testing.T) {
	path, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		require.Missing(t, fmt.Sprintf("Falco's rules are not available: %v", err))
	}
	rs, _, err := rules.LoadFiles([]string{path}, rules.Options{Registries: sources.Registries()})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]bool{}
	for _, c := range cases {
		live[c.rule] = true
	}
	for _, c := range containerCases {
		live[c] = true
	}
	n := 0
	for _, r := range rs.Rules() {
		if !slices.Contains(r.Tags, "maturity_stable") {
			continue
		}
		n++
		if !live[r.Name] && cannotFire[r.Name] == "" {
			t.Errorf("stable rule %q has no live test and no reason it cannot fire here", r.Name)
		}
		if live[r.Name] && cannotFire[r.Name] != "" {
			t.Errorf("stable rule %q is both tested and listed as unable to fire", r.Name)
		}
	}
	for name := range live {
		found := false
		for _, r := range rs.Rules() {
			found = found || r.Name == name
		}
		if !found {
			t.Errorf("live test for %q, which is not in %s", name, path)
		}
	}
	t.Logf("%d stable rules: %d fired live, %d cannot fire here", n, len(live), len(cannotFire))
}
