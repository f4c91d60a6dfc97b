package delivery

import (
	"context"
	"errors"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// result sorts one Deliver call's alerts: delivered, to retry (transient),
// or to store as dead letters (permanent).
type result struct {
	retry  []item
	dead   []letter
	reason string    // the last transient failure, for logs and health
	at     time.Time // when the call returned
}

// attempt calls the output once with pending and sorts the outcome; false
// when ctx ended during the call (the batch is redelivered after restart).
func (w *worker) attempt(ctx context.Context, pending []item) (result, bool) {
	alerts := make([]*harrierv1.Alert, len(pending))
	for i, it := range pending {
		alerts[i] = it.alert
	}
	w.p.m.BatchSize.WithLabelValues(w.name).Observe(float64(len(alerts)))
	err := w.out.Deliver(ctx, alerts)
	if ctx.Err() != nil {
		return result{}, false
	}
	var r result
	var pe *output.PartialError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		failed := make(map[int]error, len(pe.Items))
		for _, ie := range pe.Items {
			if ie.Index >= 0 && ie.Index < len(pending) {
				failed[ie.Index] = ie.Err
			}
		}
		for i, it := range pending {
			ferr, bad := failed[i]
			switch {
			case !bad:
			case output.IsPermanent(ferr):
				r.dead = append(r.dead, letter{it, ferr.Error()})
			default:
				r.retry = append(r.retry, it)
				r.reason = ferr.Error()
			}
		}
	case output.IsPermanent(err):
		for _, it := range pending {
			r.dead = append(r.dead, letter{it, err.Error()})
		}
	default:
		r.retry = pending
		r.reason = err.Error()
	}
	r.at = time.Now()
	w.p.m.observe(w.name, pending, r)
	return r, true
}
