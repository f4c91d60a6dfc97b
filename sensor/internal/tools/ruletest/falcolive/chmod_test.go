package falcolive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
)

// TestSetuidChmodFiresLive runs "Set Setuid or Setgid bit" of Falco's
// incubating ruleset (with the stable ruleset of the same release, as
// Falco users load it): libsinsp renders chmod's mode as flag names
// (S_IRUSR|...|S_ISUID), which the rule's condition tests. chmod(1) calls
// fchmodat; a mode without those bits must not fire.
func TestSetuidChmodFiresLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs into the kernel")
	}
	stable, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		t.Skipf("Falco's rules are not available: %v", err)
	}
	releases := filepath.Join(filepath.Dir(filepath.Dir(stable)), "rules-releases")
	files := []string{filepath.Join(releases, "falco_rules-5.1.0.yaml"), filepath.Join(releases, "falco-incubating_rules-6.0.1.yaml")}
	s, err := livetest.Start(livetest.Options{RuleFiles: files, KeepAlerts: true, TrackExits: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping the pipeline: %v", err)
		}
	})
	e := &env{s: s, tmp: t.TempDir()}
	target := filepath.Join(e.tmp, "tool")
	write(t, target, "#!/bin/sh\n", 0o755)
	const rule = "Set Setuid or Setgid bit"
	for _, tc := range []struct{ mode, want string }{
		{"u+s", "S_ISUID"},
		{"g+s", "S_ISGID"},
	} {
		pid := e.run(t, nil, "chmod", tc.mode, target)
		a, ok := s.Wait(rule, livetest.ByPID(pid), waitFor)
		if !ok {
			if lost := s.Counters().Lost(); lost > 0 {
				t.Skipf("the capture lost %d events under load", lost)
			}
			t.Fatalf("chmod %s did not fire %q; alerts of this test:\n%s", tc.mode, rule, dump(s))
		}
		if out := a.Output(); !strings.Contains(out, "mode=") || !strings.Contains(out, tc.want) || !strings.Contains(out, "S_IRUSR") {
			t.Errorf("chmod %s: output does not show the mode as flag names: %s", tc.mode, out)
		}
	}
	benign := e.run(t, nil, "chmod", "0644", target)
	if !s.WaitExited(int64(benign), waitFor) {
		t.Fatalf("the exit of chmod 0644 (pid %d) was not seen", benign)
	}
	if got := s.Find(rule, livetest.ByPID(benign)); len(got) > 0 {
		t.Errorf("chmod 0644 fired %q: %s", rule, got[0].Output())
	}
}
