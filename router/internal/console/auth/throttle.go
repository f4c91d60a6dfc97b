package auth

import (
	"math"
	"sync"
	"time"
)

// Sign-in throttling: failed password sign-ins are counted per client
// address and per user name (known or not, so the answer tells nothing
// about which names exist). A few failures are free; after that each one
// doubles a wait, up to a cap, during which every sign-in from that
// address or for that name is refused with 429 without checking the
// password (which also spares the CPU bcrypt would cost).
type throttle struct {
	free  int           // failures before waits start
	base  time.Duration // first wait
	max   time.Duration // longest wait
	idle  time.Duration // a key with no failure for this long is forgotten
	limit int           // keys kept at most (a flood of addresses cannot grow memory without bound)

	mu   sync.Mutex
	keys map[string]*strikes
}

type strikes struct {
	n     int
	last  time.Time
	until time.Time // refused until then
}

func newThrottle(free int) *throttle {
	return &throttle{free: free, base: time.Second, max: 15 * time.Minute, idle: time.Hour, limit: 100_000,
		keys: map[string]*strikes{}}
}

// wait is how long key is still refused at now (0: not refused).
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.keys[key]
	if s == nil || !now.Before(s.until) {
		return 0
	}
	return s.until.Sub(now)
}

// fail counts a failure for key at now.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.keys[key]
	if s != nil && now.Sub(s.last) > t.idle {
		s = nil
	}
	if s == nil {
		if len(t.keys) >= t.limit {
			t.prune(now)
		}
		s = &strikes{}
		t.keys[key] = s
	}
	s.n++
	s.last = now
	if over := s.n - t.free; over > 0 {
		d := t.max
		if over <= 30 {
			d = time.Duration(math.Min(float64(t.base)*math.Pow(2, float64(over-1)), float64(t.max)))
		}
		s.until = now.Add(d)
	}
}

// clear forgets key (a good sign-in for a user name).
func (t *throttle) clear(key string) {
	t.mu.Lock()
	delete(t.keys, key)
	t.mu.Unlock()
}

// prune drops idle keys, and if that is not enough, every key no longer
// waiting. Called with mu held.
func (t *throttle) prune(now time.Time) {
	for k, s := range t.keys {
		if now.Sub(s.last) > t.idle {
			delete(t.keys, k)
		}
	}
	if len(t.keys) < t.limit {
		return
	}
	for k, s := range t.keys {
		if !now.Before(s.until) {
			delete(t.keys, k)
		}
	}
}
