package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"

	"github.com/harrier-security/harrier/router/internal/config"
)

// applyGC sets the collector's pace and soft memory limit from the
// configuration. GOGC and GOMEMLIMIT, when set in the environment, are the
// operator's explicit choice for this process and win.
func applyGC(c config.GC, log *slog.Logger) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(c.Percent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		limit := c.MemoryLimit
		if limit == 0 {
			limit = math.MaxInt64 // Go's "no limit"
		}
		debug.SetMemoryLimit(limit)
	}
	log.Debug("garbage collector set", "percent", c.Percent, "memory_limit", c.MemoryLimit)
}
