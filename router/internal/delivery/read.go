package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

type item struct {
	seq    uint64
	stored time.Time
	alert  *harrierv1.Alert
	// refused is set for a record that can never be delivered (it does
	// not decode); the delivery stage stores it as a dead letter.
	refused string
}

// fetched is one batch read and decoded ahead of delivery.
type fetched struct {
	items []item    // alerts that pass the filter, and refused records
	last  uint64    // last journal record covered
	first time.Time // stored time of the first record covered
}

// fetch reads the journal from the worker's position and sends decoded,
// filtered batches in order until ctx ends.
func (w *worker) fetch(ctx context.Context, out chan<- fetched) {
	for {
		wait := w.reader.Wait()
		f, err := w.collect()
		if errors.Is(err, journal.ErrCorrupt) {
			if n := w.reader.SkipSegment(); n > 0 {
				// A damaged sealed segment: give up on its rest rather than
				// stall this output forever.
				w.p.m.LostRetention.WithLabelValues(w.name).Add(float64(n))
				w.p.log.Error("journal segment damaged; skipping the rest of it", "output", w.name, "alerts", n, "err", err)
				continue
			}
		}
		if err != nil {
			w.setError(err)
			w.p.log.Error("journal read failed; retrying", "output", w.name, "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			pos := w.reader.Position()
			w.reader.Close()
			w.reader = w.p.j.NewReader(pos)
			continue
		}
		if f.last == 0 {
			// Idle: deliver the throttle's summaries when their windows end.
			sum, ok, next := w.dueSummaries()
			if ok {
				select {
				case out <- sum:
				case <-ctx.Done():
					return
				}
				continue
			}
			var due <-chan time.Time
			var tm *time.Timer
			if !next.IsZero() {
				// Checked at least every second: the throttle's clock may
				// not be the wall clock (tests inject one).
				tm = time.NewTimer(min(max(next.Sub(w.thr.cfg.Now()), time.Millisecond), time.Second))
				due = tm.C
			}
			select {
			case <-wait:
			case <-due:
			case <-ctx.Done():
			}
			if tm != nil {
				tm.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		f.items = w.filter(f.items)
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// collect reads and decodes up to BatchSize available records and returns
// them with the last sequence number read (0: none available).
func (w *worker) collect() (fetched, error) {
	var f fetched
	skippedBefore := w.reader.Skipped()
	for n := 0; n < w.spec.BatchSize; n++ {
		e, ok, err := w.reader.TryNextView() // decoded below, before the next read
		if err != nil {
			return fetched{}, err
		}
		if !ok {
			break
		}
		f.last = e.Seq
		if n == 0 {
			f.first = e.Stored
		}
		a, err := w.p.decoded.get(e.Seq, e.Data)
		if err != nil {
			f.items = append(f.items, item{seq: e.Seq, stored: e.Stored, alert: &harrierv1.Alert{},
				refused: fmt.Sprintf("undecodable journal record %d: %v", e.Seq, err)})
			continue
		}
		f.items = append(f.items, item{seq: e.Seq, stored: e.Stored, alert: a})
	}
	if sk := w.reader.Skipped() - skippedBefore; sk > 0 {
		w.p.m.LostRetention.WithLabelValues(w.name).Add(float64(sk))
		w.p.log.Warn("journal retention deleted alerts before this output consumed them", "output", w.name, "alerts", sk)
	}
	return f, nil
}
