// Package poll waits for a condition with a deadline, so that tests assert
// on state that settles asynchronously without sleeping a guessed time.
package poll

import (
	"testing"
	"time"
)

// Interval is the pause between two checks of a condition.
const Interval = 25 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test
// naming what it waited for once d has passed.
func Until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(Interval)
	}
}
