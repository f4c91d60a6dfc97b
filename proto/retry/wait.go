package retry

import (
	"context"
	"time"
)

// Wait pauses d before the next attempt. It returns false, at once, when
// ctx ends first: the caller stops trying.
func Wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
