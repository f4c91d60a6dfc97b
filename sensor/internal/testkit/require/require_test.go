package require

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv runs one of the checks below in a child test process, whose
// outcome (skip or fail) is what the parent asserts.
const helperEnv = "HARRIER_REQUIRE_TEST_HELPER"

func TestHelperMissing(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // a helper of TestSkipOrFail, for its child process only
	}
	Missing(t, "the thing is absent")
	t.Log("reached: Missing returned")
}

func TestHelperShared(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return // a helper of TestSkipOrFail, for its child process only
	}
	Shared(t, "/nonexistent/shared/testdata")
	t.Log("reached: Shared returned")
}

func TestSkipOrFail(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		test, strict, want string
	}{
		{"TestHelperMissing", "", "--- SKIP: TestHelperMissing"},
		{"TestHelperMissing", "1", "--- FAIL: TestHelperMissing"},
		{"TestHelperShared", "", "--- SKIP: TestHelperShared"},
		{"TestHelperShared", "1", "--- FAIL: TestHelperShared"},
		{"TestHelperMissing", "0", "--- SKIP: TestHelperMissing"},
	} {
		cmd := exec.Command(exe, "-test.run=^"+tc.test+"$", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"=1", Env+"="+tc.strict)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "reached") {
			t.Errorf("%s with %s=%q: want %q, test went on or ended otherwise:\n%s", tc.test, Env, tc.strict, tc.want, out)
		}
	}
}
