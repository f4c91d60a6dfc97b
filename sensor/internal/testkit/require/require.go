// Package require decides what a test does when the machine lacks what it
// needs (root, the shared test data): it skips, except under
// HARRIER_REQUIRE_ALL=1 (set by CI, which has both), where it fails, so
// that a CI run cannot turn green without running what matters.
package require

import (
	"os"
	"testing"
)

// Env is the variable that turns skips into failures.
const Env = "HARRIER_REQUIRE_ALL"

// Strict reports whether missing requirements fail the test.
func Strict() bool { return os.Getenv(Env) == "1" }

// Missing skips t (fails it under HARRIER_REQUIRE_ALL=1) because of why.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s (%s=1: required)", why, Env)
	}
	t.Skip(why)
}

// Root skips t unless it runs as root; why says what needs it.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: "+why)
	}
}

// Shared skips t unless path (the shared test data, ../shared/...) exists.
func Shared(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "shared test data absent: "+err.Error())
	}
}
