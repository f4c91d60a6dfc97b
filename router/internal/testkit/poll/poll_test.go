package poll

import (
	"testing"
	"time"
)

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.failed = format
	panic(f)
}

func TestUntil(t *testing.T) {
	for _, c := range []struct {
		name   string
		after  int // checks before cond holds; -1: never
		failed bool
	}{
		{"at once", 0, false},
		{"after a few checks", 3, false},
		{"never", -1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeT{TB: t}
			n := 0
			func() {
				defer func() {
					if r := recover(); r != nil && r != any(f) {
						panic(r)
					}
				}()
				Until(f, 5*Interval, c.name, func() bool { n++; return c.after >= 0 && n > c.after })
			}()
			if (f.failed != "") != c.failed {
				t.Fatalf("failed=%q after %d checks, want failure %v", f.failed, n, c.failed)
			}
		})
	}
	start := time.Now()
	f := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		Until(f, 100*time.Millisecond, "never", func() bool { return false })
	}()
	if el := time.Since(start); el < 100*time.Millisecond || el > 2*time.Second {
		t.Fatalf("gave up after %s, want about 100ms", el)
	}
}
