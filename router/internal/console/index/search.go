package index

import (
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Query selects alerts. Empty fields match everything; several values of
// one facet match any of them.
type Query struct {
	From, To time.Time
	Facets   map[int][]string
	// Text matches words of the output, rule and fields (key=value), in
	// order, case-insensitive; the last word (3 characters or more) may be
	// the start of a word.
	Text    string
	Limit   int    // alerts returned, newest first
	Before  uint64 // paging: only alerts with seq < Before (0: none)
	Buckets int    // timeline buckets (0: 48)
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
	// Capped: more than ScanCap alerts matched a query the rollups cannot
	// answer; total, counts and chart cover the newest ScanCap of them.
	Capped bool `json:"capped,omitempty"`
}

// ScanCap bounds the alerts one search reads row by row.
var ScanCap = 250_000

var prioByName = func() map[string]uint32 {
	m := map[string]uint32{}
	for p := range harrierv1.Priority_name {
		m[PriorityName(harrierv1.Priority(p))] = uint32(p)
	}
	return m
}()

// acc accumulates counts and the chart.
type acc struct {
	counts   [nFacets]map[uint32]int
	prios    [][9]int
	tlo, stp int64
	total    int
}

func (a *acc) add(t int64, prio int, ids *[FTag]uint32, tags []uint32, n int) {
	a.total += n
	for f := 0; f < FTag; f++ {
		a.counts[f][ids[f]] += n
	}
	for _, tg := range tags {
		a.counts[FTag][tg] += n
	}
	a.chart(t, prio, n)
}

func (a *acc) chart(t int64, prio, n int) {
	b := (t - a.tlo) / a.stp
	b = max(0, min(b, int64(len(a.prios))-1))
	if prio >= 0 && prio < 9 {
		a.prios[b][prio] += n
	}
}

// Search answers q: the newest Limit matches, the total, counts per facet
// value (top 10 each) and a timeline by priority. Queries on time and
// priority alone read the rollups (plus the alerts of the partial hours at
// the window's edges); others read the matching rows through the facet
// indexes and FTS5.
func (x *Index) Search(q Query) Result {
	res, err := x.search(q)
	if err != nil {
		x.log.Warn("console index: search failed", "err", err)
	}
	return res
}

func (x *Index) search(q Query) (Result, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	nb := q.Buckets
	if nb <= 0 {
		nb = 48
	}
	from, to := int64(-1<<63), int64(1<<63-1)
	if !q.From.IsZero() {
		from = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		to = q.To.UnixNano()
	}

	x.mu.RLock()
	res := Result{Indexed: x.count, Counts: map[string][]Count{}}
	// Facet values to ids; a value never seen matches nothing.
	var allow [nFacets][]uint32
	none := false
	for f, vals := range q.Facets {
		if len(vals) == 0 || f < 0 || f >= nFacets {
			continue
		}
		for _, v := range vals {
			if f == FPriority {
				if p, ok := prioByName[v]; ok {
					allow[f] = append(allow[f], p)
				}
			} else if id, ok := x.dicts[f].lookup(v); ok {
				allow[f] = append(allow[f], id)
			}
		}
		if len(allow[f]) == 0 {
			none = true
		}
	}
	// The chart spans the query's window within what the index holds.
	lo, hi, any := x.roll.bounds()
	tlo, thi := from, to
	if any {
		tlo = max(tlo, lo*int64(time.Minute))
		thi = min(thi, (hi+1)*int64(time.Minute)-1)
	}
	if thi <= tlo {
		thi = tlo + int64(time.Minute)
	}
	step := (thi - tlo + int64(nb) - 1) / int64(nb)
	if step >= int64(time.Minute) {
		// Whole minutes, so the per-minute rollup fills the buckets.
		tlo = floorDiv(tlo, int64(time.Minute)) * int64(time.Minute)
		step = (floorDiv(thi, int64(time.Minute))*int64(time.Minute) + int64(time.Minute) - tlo + int64(nb) - 1) / int64(nb)
		step = (step + int64(time.Minute) - 1) / int64(time.Minute) * int64(time.Minute)
	}
	step = max(step, 1)
	a := &acc{prios: make([][9]int, nb), tlo: tlo, stp: step}
	for f := range a.counts {
		a.counts[f] = map[uint32]int{}
	}
	words, prefix := textQuery(q.Text)
	rollOnly := len(words) == 0 && q.Before == 0
	for f := range allow {
		if f != FPriority && allow[f] != nil {
			rollOnly = false
		}
	}
	// Whole hours inside the window come from the rollups.
	hlo, hhi := int64(-1<<62), int64(1<<62)
	if from != -1<<63 {
		hlo = floorDiv(from+int64(time.Hour)-1, int64(time.Hour))
	}
	if to != 1<<63-1 {
		hhi = floorDiv(to+1, int64(time.Hour))
	}
	if hlo >= hhi {
		rollOnly = false
	}
	var edges [][2]int64
	if rollOnly && !none {
		prioOK := func(p uint8) bool { return allow[FPriority] == nil || slices.Contains(allow[FPriority], uint32(p)) }
		for h, cells := range x.roll.hours {
			if h < hlo || h >= hhi {
				continue
			}
			for k, n := range cells {
				if !prioOK(k.prio) {
					continue
				}
				a.counts[k.facet][k.val] += int(n)
				if k.facet == FPriority {
					a.total += int(n)
				}
			}
		}
		mlo, mhi := int64(-1<<63), int64(1<<63-1)
		if from != -1<<63 {
			mlo = hlo * 60
		}
		if to != 1<<63-1 {
			mhi = hhi * 60
		}
		for m, c := range x.roll.minutes {
			if m < mlo || m >= mhi {
				continue
			}
			for p, n := range c {
				if n > 0 && prioOK(uint8(p)) {
					a.chart(m*int64(time.Minute), p, int(n))
				}
			}
		}
		if from != -1<<63 {
			edges = append(edges, [2]int64{from, hlo*int64(time.Hour) - 1})
		}
		if to != 1<<63-1 {
			edges = append(edges, [2]int64{hhi * int64(time.Hour), to})
		}
	}
	db := x.st.db // taken under mu: reset swaps it
	x.mu.RUnlock()
	if none {
		res.Timeline = a.timeline()
		return res, nil
	}

	var hitSeqs []int64
	if rollOnly {
		// The partial hours at the edges, row by row.
		for _, e := range edges {
			if e[1] < e[0] {
				continue
			}
			w, args := where(e[0], e[1], 0, allow, nil, false)
			if _, _, err := x.scan(db, w, args, a, 0); err != nil {
				return res, err
			}
		}
		w, args := where(from, to, 0, allow, nil, false)
		var err error
		if hitSeqs, err = x.selectSeqs(`SELECT seq FROM alerts WHERE `+w+` ORDER BY seq DESC LIMIT ?`, append(args, q.Limit)...); err != nil {
			return res, err
		}
	} else {
		w, args := where(from, to, q.Before, allow, words, prefix)
		var err error
		hitSeqs, res.Capped, err = x.scan(db, w, args, a, q.Limit)
		if err != nil {
			return res, err
		}
	}
	res.Total = a.total
	x.mu.RLock()
	for f := range a.counts {
		cs := make([]Count, 0, len(a.counts[f]))
		for id, n := range a.counts[f] {
			if n <= 0 {
				continue
			}
			v := ""
			if f == FPriority {
				v = PriorityName(harrierv1.Priority(id))
			} else {
				v = x.dicts[f].vals[id]
			}
			cs = append(cs, Count{Value: v, Count: n})
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
	x.mu.RUnlock()
	res.Timeline = a.timeline()
	hits, err := x.fetch(hitSeqs)
	res.Hits = hits
	return res, err
}

func (a *acc) timeline() []Bucket {
	out := make([]Bucket, 0, len(a.prios))
	for b := range a.prios {
		bk := Bucket{Start: time.Unix(0, a.tlo+int64(b)*a.stp).UTC(), ByPriority: map[string]int{}}
		for p, n := range a.prios[b] {
			if n > 0 {
				bk.ByPriority[PriorityName(harrierv1.Priority(p))] = n
			}
		}
		out = append(out, bk)
	}
	return out
}

// where builds the SQL condition of a query.
func where(from, to int64, before uint64, allow [nFacets][]uint32, words []string, prefix bool) (string, []any) {
	conds := []string{}
	var args []any
	if from != -1<<63 {
		conds, args = append(conds, "t >= ?"), append(args, from)
	}
	if to != 1<<63-1 {
		conds, args = append(conds, "t <= ?"), append(args, to)
	}
	if before != 0 {
		conds, args = append(conds, "seq < ?"), append(args, int64(before))
	}
	for f := 0; f < FTag; f++ {
		if allow[f] != nil {
			conds = append(conds, facetCols[f]+" IN ("+ints(allow[f])+")")
		}
	}
	if allow[FTag] != nil {
		conds = append(conds, "seq IN (SELECT seq FROM alert_tags WHERE tag IN ("+ints(allow[FTag])+"))")
	}
	if len(words) > 0 {
		m := `"` + strings.Join(words, " ") + `"`
		if prefix {
			m += "*"
		}
		conds, args = append(conds, "seq IN (SELECT rowid FROM fts WHERE fts MATCH ?)"), append(args, m)
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

func ints(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}

// scan reads the matching rows newest first into a, returning the first
// limit seqs and whether it stopped at ScanCap.
func (x *Index) scan(db *sql.DB, w string, args []any, a *acc, limit int) ([]int64, bool, error) {
	rows, err := db.Query(`SELECT seq, t, f FROM alerts WHERE `+w+` ORDER BY seq DESC`, args...)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var seqs []int64
	var ids [FTag]uint32
	var seq, t int64
	var f sql.RawBytes
	var tags []uint32
	n := 0
	for rows.Next() {
		if n >= ScanCap {
			return seqs, true, nil
		}
		if err := rows.Scan(&seq, &t, &f); err != nil {
			return nil, false, err
		}
		n++
		if len(seqs) < limit {
			seqs = append(seqs, seq)
		}
		tags = unpackFacets(f, &ids, tags[:0])
		a.add(t, int(ids[FPriority]), &ids, tags, 1)
	}
	return seqs, false, rows.Err()
}

// fetch loads the alerts of seqs, in that order.
func (x *Index) fetch(seqs []int64) ([]Hit, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	s := make([]string, len(seqs))
	for i, q := range seqs {
		s[i] = strconv.FormatInt(q, 10)
	}
	rows, err := x.db().Query(`SELECT seq, raw FROM raws WHERE seq IN (` + strings.Join(s, ",") + `)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byseq := make(map[int64]*harrierv1.Alert, len(seqs))
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, err
		}
		a := &harrierv1.Alert{}
		if err := harrierv1.UnmarshalAlert(raw, a); err != nil {
			return nil, fmt.Errorf("alert %d: %w", seq, err)
		}
		byseq[seq] = a
	}
	hits := make([]Hit, 0, len(seqs))
	for _, q := range seqs {
		if a := byseq[q]; a != nil {
			hits = append(hits, Hit{Seq: uint64(q), Alert: a})
		}
	}
	return hits, rows.Err()
}

// Get returns the alert with the given journal sequence or id.
func (x *Index) Get(key string) (*harrierv1.Alert, uint64, error) {
	var q string
	var arg any
	bySeq := false
	if n, err := strconv.ParseUint(key, 10, 64); err == nil {
		q, arg, bySeq = `SELECT seq, raw FROM raws WHERE seq=?`, int64(n), true
	} else {
		q, arg = `SELECT a.seq, r.raw FROM alerts a JOIN raws r ON r.seq = a.seq WHERE a.aid=? ORDER BY a.seq DESC`, aidHash(key)
	}
	rows, err := x.db().Query(q, arg)
	if err != nil {
		return nil, 0, fmt.Errorf("alert %s: %w", key, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var raw []byte
		if err := rows.Scan(&seq, &raw); err != nil {
			return nil, 0, err
		}
		a := &harrierv1.Alert{}
		if err := harrierv1.UnmarshalAlert(raw, a); err != nil {
			return nil, 0, fmt.Errorf("alert %s: %w", key, err)
		}
		if bySeq || a.GetId() == key {
			return a, uint64(seq), nil
		}
	}
	return nil, 0, ErrNotFound
}

// textQuery turns free text into FTS5 phrase words; prefix when the text
// ends inside a word (what the user is still typing).
func textQuery(s string) ([]string, bool) {
	w := words(s)
	if len(w) == 0 {
		return nil, false
	}
	r := []rune(strings.TrimSpace(s))
	last := r[len(r)-1]
	// A prefix of one or two characters would merge the lists of every
	// word starting so (every number starting with 1): whole word then.
	return w, (unicode.IsLetter(last) || unicode.IsDigit(last)) && len([]rune(w[len(w)-1])) >= 3
}

// MatchAlert reports whether a live alert satisfies q (for the stream),
// with the search's semantics.
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
				if slices.Contains(want, tg) {
					ok = true
				}
			}
			if !ok {
				return false
			}
			continue
		}
		if f >= 0 && f < FTag && !slices.Contains(want, vals[f]) {
			return false
		}
	}
	w, prefix := textQuery(q.Text)
	if len(w) == 0 {
		return true
	}
	return phrase(words(searchText(a)), w, prefix)
}

func phrase(text, w []string, prefix bool) bool {
	for i := 0; i+len(w) <= len(text); i++ {
		ok := true
		for k, tok := range w {
			got := text[i+k]
			if k == len(w)-1 && prefix {
				ok = strings.HasPrefix(got, tok)
			} else {
				ok = got == tok
			}
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
