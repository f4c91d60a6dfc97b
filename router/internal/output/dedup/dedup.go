// Package dedup makes an output skip alerts it delivered recently, by alert
// id. Alerts are redelivered after crashes (a sensor resends a batch whose
// ack was lost; the router resends what it delivered after its last stored
// cursor), and sinks without an idempotent key (file, webhook, stdout) would
// show them twice. The window is bounded in time and in ids held.
package dedup

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// DefaultMaxIDs bounds the ids remembered (about 100 bytes each).
const DefaultMaxIDs = 200_000

// Output wraps another output.
type Output struct {
	out    output.Output
	window time.Duration
	maxIDs int
	now    func() time.Time

	mu    sync.Mutex
	seen  map[string]*list.Element
	order *list.List // of entry, oldest first
	skips uint64
}

type entry struct {
	id string
	at time.Time
}

// Wrap returns out deduplicating within window (at most maxIDs ids;
// DefaultMaxIDs when 0). seed holds ids already delivered (e.g. read back
// from a file), treated as delivered now.
func Wrap(out output.Output, window time.Duration, maxIDs int, seed []string) *Output {
	if maxIDs <= 0 {
		maxIDs = DefaultMaxIDs
	}
	d := &Output{out: out, window: window, maxIDs: maxIDs, now: time.Now, seen: map[string]*list.Element{}, order: list.New()}
	now := d.now()
	for _, id := range seed {
		d.remember(id, now)
	}
	return d
}

// Unwrap returns the wrapped output.
func (d *Output) Unwrap() output.Output { return d.out }

// Name is the wrapped output's.
func (d *Output) Name() string { return d.out.Name() }

// Close closes the wrapped output.
func (d *Output) Close() error { return d.out.Close() }

// Skipped counts alerts not delivered again.
func (d *Output) Skipped() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.skips
}

// Deliver delivers the alerts whose id was not delivered within the window
// (nor earlier in the same batch). Failed alerts are not remembered, so
// their retry goes through; a PartialError's indexes refer to alerts.
func (d *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	now := d.now()
	d.mu.Lock()
	d.expire(now)
	fresh := make([]*harrierv1.Alert, 0, len(alerts))
	index := make([]int, 0, len(alerts)) // fresh[i] is alerts[index[i]]
	inBatch := make(map[string]bool, len(alerts))
	for i, a := range alerts {
		id := a.GetId()
		if id != "" {
			if _, dup := d.seen[id]; dup || inBatch[id] {
				d.skips++
				continue
			}
			inBatch[id] = true
		}
		fresh = append(fresh, a)
		index = append(index, i)
	}
	d.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	err := d.out.Deliver(ctx, fresh)
	failed := map[int]bool{}
	var pe *output.PartialError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		mapped := &output.PartialError{Items: make([]output.ItemError, 0, len(pe.Items))}
		for _, ie := range pe.Items {
			if ie.Index >= 0 && ie.Index < len(fresh) {
				failed[ie.Index] = true
				mapped.Items = append(mapped.Items, output.ItemError{Index: index[ie.Index], Err: ie.Err})
			}
		}
		err = mapped
	default:
		return err // nothing delivered: nothing to remember
	}
	d.mu.Lock()
	for i, a := range fresh {
		if !failed[i] && a.GetId() != "" {
			d.remember(a.GetId(), now)
		}
	}
	d.mu.Unlock()
	return err
}

// remember holds d.mu.
func (d *Output) remember(id string, at time.Time) {
	if e, ok := d.seen[id]; ok {
		d.order.Remove(e)
	}
	d.seen[id] = d.order.PushBack(entry{id: id, at: at})
	for d.order.Len() > d.maxIDs {
		d.drop(d.order.Front())
	}
}

// expire holds d.mu.
func (d *Output) expire(now time.Time) {
	for e := d.order.Front(); e != nil && now.Sub(e.Value.(entry).at) > d.window; e = d.order.Front() {
		d.drop(e)
	}
}

func (d *Output) drop(e *list.Element) {
	delete(d.seen, e.Value.(entry).id)
	d.order.Remove(e)
}
