package delivery

// filter is the minimumpriority and allow-list stage: it keeps, in place,
// the items the output's filter passes and counts the others. Refused
// records pass, to reach the dead letters.
func (w *worker) filter(items []item) []item {
	kept := items[:0]
	for _, it := range items {
		if it.refused != "" || w.spec.Filter.Match(it.alert) {
			kept = append(kept, it)
		}
	}
	if n := len(items) - len(kept); n > 0 {
		w.p.m.Filtered.WithLabelValues(w.name).Add(float64(n))
	}
	return kept
}
