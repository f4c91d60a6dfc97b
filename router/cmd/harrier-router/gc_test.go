package main

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/harrier-security/harrier/router/internal/config"
)

func TestTuneGCTakesTheLargerOfPercentAndHeadroom(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev); gcSettings.Store(nil) })
	runtime.GC() // a small live heap: well under 64 MiB
	tests := []struct {
		c       config.GC
		atLeast int
		atMost  int
	}{
		{config.GC{Percent: 100, Headroom: 0}, 100, 100},
		{config.GC{Percent: 100, Headroom: 64 << 20}, 200, 10_000}, // live < 32 MiB in a test binary
		{config.GC{Percent: 50_000, Headroom: 64 << 20}, 50_000, 50_000},
	}
	for _, tt := range tests {
		gcSettings.Store(&tt.c)
		tuneGC()
		if got := debug.SetGCPercent(100); got < tt.atLeast || got > tt.atMost {
			t.Errorf("%+v: GC percent %d, want %d..%d", tt.c, got, tt.atLeast, tt.atMost)
		}
	}
}
