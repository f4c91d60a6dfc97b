package delivery

import (
	"sort"
	"time"
)

// States of an output.
const (
	StateIdle     = "idle"     // caught up
	StateBusy     = "busy"     // delivering a backlog
	StateRetrying = "retrying" // the last attempt failed; backing off
)

// Health is one output's state for /healthz.
type Health struct {
	Name                     string    `json:"name"`
	State                    string    `json:"state"`
	QueueDepth               uint64    `json:"queue_depth"`
	OldestUndeliveredSeconds float64   `json:"oldest_undelivered_seconds"`
	LastError                string    `json:"last_error,omitempty"`
	LastErrorTime            time.Time `json:"last_error_time,omitzero"`
	LastSuccess              time.Time `json:"last_success,omitzero"`
	Position                 uint64    `json:"position"`
	// DeadLetterError is the last failure to store dead letters, cleared
	// by the next successful store.
	DeadLetterError     string    `json:"dead_letter_error,omitempty"`
	DeadLetterErrorTime time.Time `json:"dead_letter_error_time,omitzero"`
}

// Health reports every running output, sorted by name.
func (p *Pipeline) Health() []Health {
	p.mu.Lock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	var next uint64
	if p.j != nil {
		next = p.j.Next()
	}
	out := make([]Health, 0, len(ws))
	for _, w := range ws {
		w.mu.Lock()
		h := Health{Name: w.name, State: w.state, LastError: w.lastErr, LastErrorTime: w.lastErrAt,
			LastSuccess: w.lastOK, Position: w.pos, DeadLetterError: w.deadErr, DeadLetterErrorTime: w.deadErrAt}
		if next > w.pos {
			h.QueueDepth = next - w.pos
		}
		if p.shared != nil {
			h.QueueDepth = w.lag // the whole group's, as of its last check
		}
		if !w.oldest.IsZero() {
			h.OldestUndeliveredSeconds = time.Since(w.oldest).Seconds()
		}
		w.mu.Unlock()
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

func (w *worker) setError(err error) {
	w.mu.Lock()
	w.state, w.lastErr, w.lastErrAt = StateRetrying, err.Error(), time.Now()
	w.mu.Unlock()
}

func (w *worker) setIdle() {
	w.mu.Lock()
	w.state = StateIdle
	w.oldest = time.Time{}
	w.mu.Unlock()
}

// setDeadLetterError records (err != nil) or clears the dead-letter store's
// failure.
func (w *worker) setDeadLetterError(err error) {
	w.mu.Lock()
	if err != nil {
		w.deadErr, w.deadErrAt = err.Error(), time.Now()
	} else {
		w.deadErr, w.deadErrAt = "", time.Time{}
	}
	w.mu.Unlock()
}
