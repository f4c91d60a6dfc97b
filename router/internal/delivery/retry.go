package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/harrier-security/harrier/proto/retry"
)

// Backoff is an exponential backoff with full jitter between Initial and Max.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// Delay returns the wait before retry attempt n (0-based): a random duration
// in [d/2, d] where d = min(Max, Initial*2^n).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Initial
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	if d > b.Max {
		d = b.Max
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = 100 * time.Millisecond
	}
	if b.Max < b.Initial {
		b.Max = 30 * time.Second
	}
	return b
}

// deliver delivers batch, retrying transient failures with backoff until
// it succeeds or ctx ends (false). Permanent failures, and records that
// could not be read as alerts, are stored as dead letters; while the
// store fails, they are held and storing is retried on the same backoff.
func (w *worker) deliver(ctx context.Context, batch []item) bool {
	pending := batch
	var unstored []letter
	if slices.ContainsFunc(batch, func(it item) bool { return it.refused != "" }) {
		pending = nil
		for _, it := range batch {
			if it.refused != "" {
				unstored = append(unstored, letter{it, it.refused})
			} else {
				pending = append(pending, it)
			}
		}
	}
	for attempt := 0; ; attempt++ {
		var r result
		if len(pending) > 0 {
			var ok bool
			if r, ok = w.attempt(ctx, pending); !ok {
				return false
			}
		}
		unstored = append(unstored, r.dead...)
		if err := w.deadLetter(ctx, unstored); err != nil {
			if ctx.Err() != nil {
				return false
			}
			r.reason = fmt.Sprintf("cannot store %d dead letters: %v", len(unstored), err)
		} else {
			unstored = nil
		}
		if len(r.retry) == 0 && len(unstored) == 0 {
			w.mu.Lock()
			w.lastOK = time.Now()
			w.state = StateBusy
			w.mu.Unlock()
			return true
		}
		w.setError(errors.New(r.reason))
		delay := w.spec.Backoff.Delay(attempt)
		if len(r.retry) > 0 {
			w.p.m.Retried.WithLabelValues(w.name).Add(float64(len(r.retry)))
			if attempt == 0 || attempt%10 == 0 {
				w.p.log.Warn("delivery failed; retrying", "output", w.name, "alerts", len(r.retry), "attempt", attempt+1,
					"backoff", delay.Round(time.Millisecond), "err", r.reason)
			}
		}
		if !retry.Wait(ctx, delay) {
			return false
		}
		pending = r.retry
	}
}
