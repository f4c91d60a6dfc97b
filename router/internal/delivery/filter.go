package delivery

import "time"

// filter is the routing stage: minimumpriority and the allow-lists, the
// output's condition, then its throttle. It keeps, in place, the items that
// pass and counts the others; the throttle's summaries of ended windows are
// added. Refused records pass, to reach the dead letters.
func (w *worker) filter(items []item) []item {
	kept := items[:0]
	if w.thr != nil {
		// Summaries go in before the alert that ended their window, so
		// filtering in place could overwrite items not yet read.
		kept = make([]item, 0, len(items))
	}
	filtered, held, summaries := 0, 0, 0
	for _, it := range items {
		if it.refused != "" {
			kept = append(kept, it)
			continue
		}
		if !w.spec.Filter.Match(it.alert) || !w.spec.Condition.Match(it.alert) {
			filtered++
			continue
		}
		if w.thr != nil {
			pass, sums := w.thr.admit(it.alert)
			for _, s := range sums {
				kept = append(kept, item{seq: it.seq, stored: it.stored, alert: s})
			}
			summaries += len(sums)
			if !pass {
				held++
				continue
			}
		}
		kept = append(kept, it)
	}
	if filtered > 0 {
		w.p.m.Filtered.WithLabelValues(w.name).Add(float64(filtered))
	}
	if held > 0 {
		w.p.m.Throttled.WithLabelValues(w.name).Add(float64(held))
	}
	if summaries > 0 {
		w.p.m.Summaries.WithLabelValues(w.name).Add(float64(summaries))
	}
	return kept
}

// dueSummaries is a batch of the throttle's summaries of windows that
// ended with no later alert of their key (ok false: none), and when the
// next one is due (zero: none).
func (w *worker) dueSummaries() (f fetched, ok bool, next time.Time) {
	if w.thr == nil {
		return fetched{}, false, time.Time{}
	}
	pos := w.reader.Position()
	if pos == 0 {
		return fetched{}, false, time.Time{} // nothing read, nothing held
	}
	sums, next := w.thr.due()
	if len(sums) == 0 {
		return fetched{}, false, next
	}
	// Every record before pos is already on its way to delivery, so the
	// batch covers them again: the cursor does not move.
	f.last = pos - 1
	for _, s := range sums {
		f.items = append(f.items, item{seq: f.last, stored: time.Now(), alert: s})
	}
	w.p.m.Summaries.WithLabelValues(w.name).Add(float64(len(sums)))
	return f, true, next
}
