package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
)

// Replay delivers the dead letters of output again (one bounded retry run);
// those refused again stay stored.
func (p *Pipeline) Replay(ctx context.Context, name string) (replayed, failed int, err error) {
	p.mu.Lock()
	w := p.workers[name]
	p.mu.Unlock()
	if w == nil {
		return 0, 0, fmt.Errorf("output %q is not configured", name)
	}
	req := replayReq{ctx: ctx, res: make(chan replayRes, 1)}
	select {
	case w.replay <- req:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-w.done:
		return 0, 0, fmt.Errorf("output %q stopped", name)
	}
	r := <-req.res
	return r.ok, r.failed, r.err
}

type replayReq struct {
	ctx context.Context
	res chan replayRes
}

type replayRes struct {
	ok, failed int
	err        error
}

func (w *worker) deadLetter(items []item, reason string) {
	if w.p.dead == nil {
		return
	}
	now := timestamppb.Now()
	letters := make([]*harrierv1.DeadLetter, len(items))
	for i, it := range items {
		letters[i] = &harrierv1.DeadLetter{Output: w.name, Alert: it.alert, Reason: reason, Time: now, Seq: it.seq}
	}
	w.p.m.DeadLettered.WithLabelValues(w.name).Add(float64(len(items)))
	w.p.log.Warn("alerts refused permanently; stored as dead letters", "output", w.name, "alerts", len(items), "reason", reason)
	for {
		err := w.p.dead.Add(w.name, letters)
		if err == nil {
			return
		}
		// Never drop: keep trying to store (the disk may come back).
		w.p.log.Error("cannot store dead letters; retrying", "output", w.name, "err", err)
		time.Sleep(time.Second)
	}
}

// doReplay delivers this output's dead letters with a few attempts.
func (w *worker) doReplay(req replayReq) {
	if w.p.dead == nil {
		req.res <- replayRes{err: errors.New("no dead-letter store")}
		return
	}
	ok, failed, err := w.p.dead.Replay(w.name, func(ls []*harrierv1.DeadLetter) []*harrierv1.DeadLetter {
		pending := ls
		for attempt := 0; attempt < 3 && len(pending) > 0; attempt++ {
			if attempt > 0 && !sleep(req.ctx, w.spec.Backoff.Delay(attempt)) {
				break
			}
			alerts := make([]*harrierv1.Alert, len(pending))
			for i, l := range pending {
				alerts[i] = l.GetAlert()
			}
			err := w.out.Deliver(req.ctx, alerts)
			if err == nil {
				pending = nil
				break
			}
			var pe *output.PartialError
			if errors.As(err, &pe) {
				var again []*harrierv1.DeadLetter
				for _, ie := range pe.Items {
					if ie.Index >= 0 && ie.Index < len(pending) {
						l := pending[ie.Index]
						l.Reason = ie.Err.Error()
						l.Time = timestamppb.Now()
						again = append(again, l)
					}
				}
				pending = again
				continue
			}
			for _, l := range pending {
				l.Reason = err.Error()
				l.Time = timestamppb.Now()
			}
			if output.IsPermanent(err) {
				break
			}
		}
		return pending
	})
	if ok > 0 {
		w.p.m.Sent.WithLabelValues(w.name).Add(float64(ok))
	}
	w.p.log.Info("dead letters replayed", "output", w.name, "delivered", ok, "failed", failed, "err", err)
	req.res <- replayRes{ok: ok, failed: failed, err: err}
}
