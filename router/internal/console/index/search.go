package index

import (
	"sort"
	"strings"
	"sync"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Query selects alerts. Empty fields match everything; several values of
// one facet match any of them.
type Query struct {
	From, To time.Time
	Facets   map[int][]string
	Text     string // case-insensitive substring of output, rule and fields
	Limit    int    // alerts returned, newest first
	Before   uint64 // paging: only alerts with seq < Before (0: none)
	Buckets  int    // timeline buckets (0: 48)
}

// Hit is one returned alert.
type Hit struct {
	Seq   uint64           `json:"seq"`
	Alert *harrierv1.Alert `json:"-"`
}

// Count is one facet value and how many matching alerts carry it.
type Count struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Bucket is one step of the alerts-over-time chart.
type Bucket struct {
	Start      time.Time      `json:"start"`
	ByPriority map[string]int `json:"by_priority"`
}

// Result answers a Query.
type Result struct {
	Total    int                `json:"total"`
	Hits     []Hit              `json:"-"`
	Counts   map[string][]Count `json:"counts"`
	Timeline []Bucket           `json:"timeline"`
	Indexed  int                `json:"indexed"`
}

// matcher is a compiled Query.
type matcher struct {
	from, to int64
	allow    [nFacets][]bool // nil: any value
	none     bool            // a facet value never seen: nothing matches
	text     string
	before   uint64
}

func (x *Index) compile(q Query) matcher {
	m := matcher{from: -1 << 63, to: 1<<63 - 1, text: strings.ToLower(q.Text), before: q.Before}
	if !q.From.IsZero() {
		m.from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		m.to = q.To.UnixNano()
	}
	for f, vals := range q.Facets {
		if len(vals) == 0 || f < 0 || f >= nFacets {
			continue
		}
		allow := make([]bool, len(x.dicts[f].vals))
		any := false
		for _, v := range vals {
			if id, ok := x.dicts[f].ids[v]; ok {
				allow[id] = true
				any = true
			}
		}
		if !any {
			m.none = true
		}
		m.allow[f] = allow
	}
	return m
}

func (m *matcher) match(d *doc) bool {
	if d.time < m.from || d.time > m.to || (m.before != 0 && d.seq >= m.before) {
		return false
	}
	for f := 0; f < FTag; f++ {
		if a := m.allow[f]; a != nil && !a[d.facets[f]] {
			return false
		}
	}
	if a := m.allow[FTag]; a != nil {
		ok := false
		for _, t := range d.tags {
			if a[t] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return m.text == "" || strings.Contains(d.text, m.text)
}

// MatchAlert reports whether a live alert satisfies q (for the stream).
func MatchAlert(q Query, a *harrierv1.Alert) bool {
	t := a.GetTime().AsTime()
	if (!q.From.IsZero() && t.Before(q.From)) || (!q.To.IsZero() && t.After(q.To)) {
		return false
	}
	vals := facetValues(a)
	for f, want := range q.Facets {
		if len(want) == 0 {
			continue
		}
		if f == FTag {
			ok := false
			for _, tg := range a.GetTags() {
				if contains(want, tg) {
					ok = true
				}
			}
			if !ok {
				return false
			}
			continue
		}
		if f >= 0 && f < FTag && !contains(want, vals[f]) {
			return false
		}
	}
	if q.Text == "" {
		return true
	}
	txt := strings.ToLower(a.GetOutput() + "\n" + a.GetRule())
	for k, v := range a.GetOutputFields() {
		txt += "\n" + strings.ToLower(k+"="+FieldString(v))
	}
	return strings.Contains(txt, strings.ToLower(q.Text))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Search scans the index newest first: the newest Limit matches, the total,
// counts per facet value (top 10 each) and a timeline by priority.
func (x *Index) Search(q Query) Result {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	nb := q.Buckets
	if nb <= 0 {
		nb = 48
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	m := x.compile(q)
	res := Result{Indexed: len(x.docs), Counts: map[string][]Count{}}
	// Timeline range: the query's, else the index's.
	tlo, thi := m.from, m.to
	if len(x.docs) > 0 {
		tlo = max(tlo, x.docs[0].time)
		thi = min(thi, x.docs[len(x.docs)-1].time)
	}
	if thi <= tlo {
		thi = tlo + int64(time.Minute)
	}
	step := (thi - tlo) / int64(nb)
	if step <= 0 {
		step = 1
	}
	// Two halves scanned in parallel (the machine's cores), merged after:
	// the newer half's hits come first.
	type part struct {
		total  int
		hits   []int
		counts [nFacets][]int
		prios  [][9]int
	}
	scan := func(lo, hi int, pt *part) {
		for f := range pt.counts {
			pt.counts[f] = make([]int, len(x.dicts[f].vals))
		}
		pt.prios = make([][9]int, nb)
		if m.none {
			return
		}
		for i := hi - 1; i >= lo; i-- {
			d := &x.docs[i]
			if !m.match(d) {
				continue
			}
			pt.total++
			if len(pt.hits) < q.Limit {
				pt.hits = append(pt.hits, i)
			}
			for f := 0; f < FTag; f++ {
				pt.counts[f][d.facets[f]]++
			}
			for _, t := range d.tags {
				pt.counts[FTag][t]++
			}
			b := (d.time - tlo) / step
			b = max(0, min(b, int64(nb)-1))
			if p := int(d.prio); p >= 0 && p < 9 {
				pt.prios[b][p]++
			}
		}
	}
	var parts [2]part
	mid := len(x.docs) / 2
	if len(x.docs) < parallelMin {
		mid = 0 // not worth a goroutine
	}
	var wg sync.WaitGroup
	if mid > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); scan(0, mid, &parts[1]) }()
	} else {
		scan(0, 0, &parts[1])
	}
	scan(mid, len(x.docs), &parts[0])
	wg.Wait()
	var counts [nFacets][]int
	prios := parts[0].prios
	hits := parts[0].hits
	for f := range counts {
		counts[f] = parts[0].counts[f]
		for id, n := range parts[1].counts[f] {
			counts[f][id] += n
		}
	}
	for b := range prios {
		for p := range prios[b] {
			prios[b][p] += parts[1].prios[b][p]
		}
	}
	for _, i := range parts[1].hits {
		if len(hits) < q.Limit {
			hits = append(hits, i)
		}
	}
	res.Total = parts[0].total + parts[1].total
	for f := range counts {
		var cs []Count
		for id, n := range counts[f] {
			if n > 0 {
				cs = append(cs, Count{Value: x.dicts[f].vals[id], Count: n})
			}
		}
		sort.Slice(cs, func(i, j int) bool {
			if cs[i].Count != cs[j].Count {
				return cs[i].Count > cs[j].Count
			}
			return cs[i].Value < cs[j].Value
		})
		if len(cs) > 10 {
			cs = cs[:10]
		}
		res.Counts[FacetNames[f]] = cs
	}
	for b := range prios {
		bk := Bucket{Start: time.Unix(0, tlo+int64(b)*step).UTC(), ByPriority: map[string]int{}}
		for p, n := range prios[b] {
			if n > 0 {
				bk.ByPriority[PriorityName(harrierv1.Priority(p))] = n
			}
		}
		res.Timeline = append(res.Timeline, bk)
	}
	for _, i := range hits {
		d := &x.docs[i]
		res.Hits = append(res.Hits, Hit{Seq: d.seq, Alert: decode(d.raw)})
	}
	return res
}

// parallelMin is the index size from which a search uses two goroutines.
var parallelMin = 50_000
