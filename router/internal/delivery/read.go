package delivery

import (
	"context"
	"fmt"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/proto/retry"
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
// filtered batches in order until ctx ends. A read error keeps what the
// batch read before it (delivered first); the retry reopens at the record
// that failed, never past it.
func (w *worker) fetch(ctx context.Context, out chan<- fetched) {
	for {
		wait := w.reader.Wait()
		f, err := w.collect()
		if f.last != 0 {
			f.items = w.filter(f.items)
			select {
			case out <- f:
			case <-ctx.Done():
				return
			}
			if err != nil {
				continue // read again from the failed record
			}
		}
		if err != nil {
			w.setError(err)
			w.p.log.Error("journal read failed; retrying", "output", w.name, "seq", w.reader.Position(), "err", err)
			if !retry.Wait(ctx, time.Second) {
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
		}
	}
}

// collect reads and decodes up to BatchSize available records and returns
// them with the last sequence number covered (0: none), and the read error
// that ended the batch early, if any. Ranges the reader skipped (retention,
// damaged or missing records) are counted as lost with their reason.
func (w *worker) collect() (fetched, error) {
	var f fetched
	defer w.countLosses()
	for n := 0; n < w.spec.BatchSize; n++ {
		e, ok, err := w.reader.TryNextView() // decoded below, before the next read
		if err != nil {
			return f, err
		}
		if !ok {
			break
		}
		f.last = e.Seq
		if n == 0 {
			f.first = e.Stored
		}
		a, err := w.p.decoded.Get(e.Seq, e.Data)
		if err != nil {
			f.items = append(f.items, item{seq: e.Seq, stored: e.Stored, alert: &harrierv1.Alert{},
				refused: fmt.Sprintf("undecodable journal record %d: %v", e.Seq, err)})
			continue
		}
		f.items = append(f.items, item{seq: e.Seq, stored: e.Stored, alert: a})
	}
	return f, nil
}

// countLosses logs and counts the ranges the reader skipped.
func (w *worker) countLosses() {
	for _, l := range w.reader.TakeLosses() {
		n := float64(l.To - l.From + 1)
		w.p.m.Lost.WithLabelValues(w.name, l.Reason).Add(n)
		if l.Reason == journal.LossDeleted {
			w.p.m.LostRetention.WithLabelValues(w.name).Add(n)
		}
		w.p.log.Error("alerts lost before this output consumed them", "output", w.name, "reason", l.Reason,
			"from", l.From, "to", l.To, "alerts", l.To-l.From+1)
	}
}
