package delivery

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
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

// DeadLetterStore keeps the alerts outputs refused permanently: the local
// deadletter.Store, or the shared log's dead-letter topic.
type DeadLetterStore interface {
	Add(ctx context.Context, output string, letters []*harrierv1.DeadLetter) error
	Replay(output string, deliver func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter) (replayed, failed int, err error)
}

// letter is a permanent failure waiting to be stored as a dead letter.
type letter struct {
	item
	reason string
}

// deadLetter durably stores letters. When the store fails (a failing disk)
// it says so everywhere an operator looks: an error log, the
// dead_letter_failures metric and the output's health; the caller keeps
// the alerts queued and tries again, so nothing is lost and nothing waits
// past ctx.
func (w *worker) deadLetter(ctx context.Context, letters []letter) error {
	if w.p.dead == nil || len(letters) == 0 {
		return nil
	}
	now := timestamppb.Now()
	dls := make([]*harrierv1.DeadLetter, len(letters))
	for i, l := range letters {
		dls[i] = &harrierv1.DeadLetter{Output: w.name, Alert: l.alert, Reason: l.reason, Time: now, Seq: l.seq}
	}
	if err := w.p.dead.Add(ctx, w.name, dls); err != nil {
		if ctx.Err() != nil {
			return err // stopping: the alerts are redelivered after restart
		}
		w.p.m.DeadLetterFailures.WithLabelValues(w.name).Inc()
		w.setDeadLetterError(err)
		w.p.log.Error("cannot store dead letters; the alerts stay queued and storing is tried again",
			"output", w.name, "alerts", len(letters), "err", err)
		return err
	}
	w.setDeadLetterError(nil)
	w.p.m.DeadLettered.WithLabelValues(w.name).Add(float64(len(letters)))
	w.p.log.Warn("alerts refused permanently; stored as dead letters", "output", w.name, "alerts", len(letters),
		"reason", letters[0].reason)
	return nil
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
			if attempt > 0 && !retry.Wait(req.ctx, w.spec.Backoff.Delay(attempt)) {
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
