package retry

import (
	"context"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
		max  time.Duration
	}{
		{"waits", context.Background(), 30 * time.Millisecond, true, 5 * time.Second},
		{"zero", context.Background(), 0, true, 5 * time.Second},
		{"ended context returns at once", cancelled, time.Hour, false, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got := Wait(c.ctx, c.d)
			el := time.Since(start)
			if got != c.want || el > c.max || (c.want && el < c.d) {
				t.Fatalf("Wait = %v after %s, want %v after %s (at most %s)", got, el, c.want, c.d, c.max)
			}
		})
	}
}
