package subscription

import (
	"context"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// SharedLog is the log router replicas share (Kafka). Every replica's hub
// reads all of it, so a subscriber sees every alert whichever replica
// accepted it.
type SharedLog interface {
	// Follow calls fn for each record stored from now on until ctx ends.
	Follow(ctx context.Context, fn func(journal.Record)) error
	// Replay returns the records stored since a time or the last n of
	// each partition, oldest first.
	Replay(ctx context.Context, since time.Time, last int) ([]journal.Record, error)
}

// NewSharedHub returns a hub over a shared log; call Run.
func NewSharedHub(l SharedLog, opts Options) *Hub {
	h := NewHub(nil, opts)
	h.shared = l
	return h
}

func (h *Hub) runShared(ctx context.Context) {
	for {
		err := h.shared.Follow(ctx, func(r journal.Record) {
			h.publish(journal.Entry{Stored: r.Stored, Data: r.Data})
		})
		if ctx.Err() != nil {
			return
		}
		h.log.Error("subscriptions: reading the shared log failed; retrying", "err", err)
		if !retry.Wait(ctx, time.Second) {
			return
		}
	}
}

// replayShared is replay on the shared log: at most MaxReplay records,
// within 10 seconds.
func (h *Hub) replayShared(ctx context.Context, req *harrierv1.SubscribeRequest, f *alertfilter.Filter) []*harrierv1.Alert {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var since time.Time
	if req.GetReplaySince() != nil {
		since = req.GetReplaySince().AsTime()
	}
	last := int(req.GetReplayLast())
	recs, err := h.shared.Replay(ctx, since, min(last, h.opts.MaxReplay))
	if err != nil {
		h.log.Warn("subscriptions: replay from the shared log failed", "err", err)
	}
	if len(recs) > h.opts.MaxReplay {
		recs = recs[len(recs)-h.opts.MaxReplay:]
	}
	var out []*harrierv1.Alert
	for _, r := range recs {
		if !since.IsZero() && r.Stored.Before(since) {
			continue
		}
		a := &harrierv1.Alert{}
		if harrierv1.UnmarshalAlert(r.Data, a) != nil || !f.Match(a) {
			continue
		}
		out = append(out, a)
	}
	if last > 0 && len(out) > last {
		out = out[len(out)-last:]
	}
	return out
}
