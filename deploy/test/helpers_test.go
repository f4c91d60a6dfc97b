package deploytest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// repoRoot is the repository's top directory (this module lives in
// deploy/test).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return root
}

// componentDir is sensor/ or router/ of this checkout, or the directory
// named by HARRIER_<NAME>_DIR (to check the packaging against a component's
// work in progress elsewhere).
func componentDir(t *testing.T, name, env string) string {
	t.Helper()
	if d := os.Getenv(env); d != "" {
		return d
	}
	return filepath.Join(repoRoot(t), name)
}

// helmBinary is the pinned helm from `make tools` (.tools/helm), or $HELM.
func helmBinary(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	p := filepath.Join(repoRoot(t), ".tools", "helm")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Fatalf("helm not found: run `make tools` (installs the pinned helm into .tools/) or set HELM")
	return ""
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// missing skips t because what it needs is absent, except under
// HARRIER_REQUIRE_ALL=1 (set by CI, where a clean checkout has everything):
// there it fails, so that CI cannot turn green without running the check.
// (This module is outside go.work and cannot use the components' testkit.)
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
		t.Fatalf("%s (HARRIER_REQUIRE_ALL=1: required)", why)
	}
	t.Skip(why)
}
