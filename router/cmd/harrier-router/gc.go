package main

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"

	"github.com/harrier-security/harrier/router/internal/config"
)

// gcSettings is what the tuner applies after each collection (reloads
// replace it).
var gcSettings atomic.Pointer[config.GC]

// applyGC sets the collector's pace and soft memory limit from the
// configuration. GOGC and GOMEMLIMIT, when set in the environment, are the
// operator's explicit choice for this process and win.
func applyGC(c config.GC, log *slog.Logger) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		limit := c.MemoryLimit
		if limit == 0 {
			limit = math.MaxInt64 // Go's "no limit"
		}
		debug.SetMemoryLimit(limit)
	}
	if _, ok := os.LookupEnv("GOGC"); ok {
		return
	}
	if gcSettings.Swap(&c) == nil && c.Headroom > 0 {
		startGCTuner() // a reload that adds headroom later needs a restart
	}
	tuneGC()
	log.Debug("garbage collector set", "percent", c.Percent, "headroom", c.Headroom, "memory_limit", c.MemoryLimit)
}

// tuneGC sets the heap growth that starts the next collection to the larger
// of Percent of the live heap and Headroom: a router with little live data
// (the usual case: alerts pass through) collects every Headroom bytes
// allocated instead of every few megabytes, and one with a large live heap
// (a full console index) keeps Go's proportional pace and does not double
// its memory for nothing.
func tuneGC() {
	c := gcSettings.Load()
	if c == nil {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	pct := c.Percent
	if s[0].Value.Kind() == metrics.KindUint64 {
		live := max(s[0].Value.Uint64(), 1<<20)
		pct = max(pct, int(min(uint64(c.Headroom)*100/live, 10_000)))
	}
	debug.SetGCPercent(pct)
}

// startGCTuner calls tuneGC after every collection: a finalizer on an
// unreachable object runs once the collector has found it, and re-arms on
// a new one.
func startGCTuner() {
	type sentinel struct{ _ [16]byte }
	var arm func()
	arm = func() {
		runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
			tuneGC()
			arm()
		})
	}
	arm()
}
