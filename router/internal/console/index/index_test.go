package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func mk(i int, rule string, p harrierv1.Priority, ns, host string, tags ...string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: fmt.Sprintf("a-%d", i), Time: timestamppb.New(t0.Add(time.Duration(i) * time.Minute)), Rule: rule, Priority: p,
		Source: "syscall", Output: fmt.Sprintf("Shell in %s on %s (user=root)", ns, host), Hostname: host, SensorId: "s-" + host, Tags: tags,
		OutputFields: map[string]*harrierv1.FieldValue{
			"k8s.ns.name":    {Kind: &harrierv1.FieldValue_StringValue{StringValue: ns}},
			"k8s.pod.name":   {Kind: &harrierv1.FieldValue_StringValue{StringValue: ns + "-pod"}},
			"container.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "app"}},
			"proc.pid":       {Kind: &harrierv1.FieldValue_IntValue{IntValue: int64(1000 + i)}},
		}}
}

func open(t testing.TB, o Options) *Index {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	x, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

func fixture(t *testing.T) *Index {
	x := open(t, Options{IncidentFields: []string{"k8s.ns.name"}, Now: func() time.Time { return t0.Add(time.Hour) }})
	C, W := harrierv1.Priority_PRIORITY_CRITICAL, harrierv1.Priority_PRIORITY_WARNING
	for i, a := range []*harrierv1.Alert{
		mk(0, "Terminal shell", C, "payments", "n1", "shell"),
		mk(1, "Terminal shell", C, "payments", "n2", "shell"),
		mk(2, "Terminal shell", C, "payments", "n3", "shell"),
		mk(3, "Read sensitive file", W, "default", "n1", "filesystem"),
		mk(4, "Terminal shell", C, "kube-system", "n1", "shell", "mitre"),
	} {
		x.Add(uint64(i+1), a, nil)
	}
	return x
}

func seqs(r Result) []uint64 {
	var s []uint64
	for _, h := range r.Hits {
		s = append(s, h.Seq)
	}
	return s
}

func TestSearch(t *testing.T) {
	x := fixture(t)
	for _, tc := range []struct {
		name string
		q    Query
		want []uint64
	}{
		{"all newest first", Query{}, []uint64{5, 4, 3, 2, 1}},
		{"priority", Query{Facets: map[int][]string{FPriority: {"Warning"}}}, []uint64{4}},
		{"namespace", Query{Facets: map[int][]string{FNamespace: {"payments"}}}, []uint64{3, 2, 1}},
		{"two namespaces", Query{Facets: map[int][]string{FNamespace: {"payments", "default"}}}, []uint64{4, 3, 2, 1}},
		{"rule and host", Query{Facets: map[int][]string{FRule: {"Terminal shell"}, FHostname: {"n1"}}}, []uint64{5, 1}},
		{"tag", Query{Facets: map[int][]string{FTag: {"mitre"}}}, []uint64{5}},
		{"pod", Query{Facets: map[int][]string{FPod: {"default-pod"}}}, []uint64{4}},
		{"container", Query{Facets: map[int][]string{FContainer: {"app"}}}, []uint64{5, 4, 3, 2, 1}},
		{"source", Query{Facets: map[int][]string{FSource: {"k8s_audit"}}}, nil},
		{"unknown value", Query{Facets: map[int][]string{FRule: {"nope"}}}, nil},
		{"text in output", Query{Text: "SHELL IN PAYMENTS"}, []uint64{3, 2, 1}},
		{"text in a field", Query{Text: "proc.pid=1003"}, []uint64{4}},
		{"text word prefix", Query{Text: "kube-sys"}, []uint64{5}},
		{"text is words, not any substring", Query{Text: "ayments"}, nil},
		{"text and facet", Query{Text: "on n1", Facets: map[int][]string{FNamespace: {"payments"}}}, []uint64{1}},
		{"tag and text", Query{Text: "shell", Facets: map[int][]string{FTag: {"shell"}}}, []uint64{5, 3, 2, 1}},
		{"two priorities", Query{Facets: map[int][]string{FPriority: {"Warning", "Critical"}}}, []uint64{5, 4, 3, 2, 1}},
		{"priority and window", Query{Facets: map[int][]string{FPriority: {"Critical"}}, From: t0.Add(time.Minute)}, []uint64{5, 3, 2}},
		{"time range", Query{From: t0.Add(time.Minute), To: t0.Add(3 * time.Minute)}, []uint64{4, 3, 2}},
		{"limit", Query{Limit: 2}, []uint64{5, 4}},
		{"before", Query{Before: 3}, []uint64{2, 1}},
	} {
		r := x.Search(tc.q)
		if got := seqs(r); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
		if tc.q.Limit == 0 && tc.q.Before == 0 && r.Total != len(tc.want) {
			t.Errorf("%s: total %d, want %d", tc.name, r.Total, len(tc.want))
		}
	}
	r := x.Search(Query{})
	if c := r.Counts["namespace"]; len(c) != 3 || c[0] != (Count{"payments", 3}) {
		t.Errorf("namespace counts %v", c)
	}
	n := 0
	for _, b := range r.Timeline {
		n += b.ByPriority["Critical"] + b.ByPriority["Warning"]
	}
	if n != 5 {
		t.Errorf("timeline holds %d alerts, want 5", n)
	}
	for _, a := range []*harrierv1.Alert{mk(9, "Terminal shell", 3, "payments", "n1")} {
		if !MatchAlert(Query{Facets: map[int][]string{FNamespace: {"payments"}}, Text: "shell"}, a) ||
			MatchAlert(Query{Facets: map[int][]string{FNamespace: {"default"}}}, a) {
			t.Error("MatchAlert disagrees with the filter")
		}
	}
}

func TestIncidentsAndSensors(t *testing.T) {
	x := fixture(t)
	inc := x.Incidents()
	if len(inc) != 3 {
		t.Fatalf("%d incidents, want 3", len(inc))
	}
	var pay *Incident
	for i := range inc {
		if inc[i].Fields["k8s.ns.name"] == "payments" {
			pay = &inc[i]
		}
	}
	if pay == nil || pay.Count != 3 || len(pay.Sensors) != 3 || !pay.FirstSeen.Equal(t0) || !pay.LastSeen.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("payments incident %+v", pay)
	}
	if s := x.Sensors(); len(s) != 3 || s[0].ID != "s-n1" || s[0].Alerts != 3 {
		t.Fatalf("sensors %+v", s)
	}
}

func TestRetention(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	x := open(t, Options{MaxAlerts: 3, MaxAge: 5 * time.Minute, Now: func() time.Time { return now }})
	for i := 0; i < 10; i++ {
		x.Add(uint64(i+1), mk(i, "r", 3, "ns", "h"), nil)
	}
	// Count keeps 8..10; age (older than minute 5) would keep 6..10.
	if got := seqs(x.Search(Query{})); !slices.Equal(got, []uint64{10, 9, 8}) {
		t.Fatalf("after retention: %v", got)
	}
	if _, _, err := x.Get("2"); err != ErrNotFound {
		t.Fatalf("expired alert: %v", err)
	}
	if a, seq, err := x.Get("a-9"); err != nil || seq != 10 || a.GetRule() != "r" {
		t.Fatalf("by id: %v %d %v", a, seq, err)
	}
}

func appendAlerts(t *testing.T, j *journal.Journal, from, n int, rule string) {
	t.Helper()
	var recs [][]byte
	for i := from; i < from+n; i++ {
		b, _ := proto.Marshal(mk(i, rule, 3, "ns", "h"))
		recs = append(recs, b)
	}
	if _, err := j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// run runs the indexer until it has read the whole journal, then stops it.
func run(t *testing.T, x *Index, j *journal.Journal) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- x.Run(ctx, j) }()
	deadline := time.Now().Add(10 * time.Second)
	for x.Next() < j.Next() {
		if time.Now().After(deadline) {
			t.Fatalf("index at %d, journal at %d", x.Next(), j.Next())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func openJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, journal.Options{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestRunFromJournal covers the indexer's life: first fill, an
// undecodable record, restart resuming from the stored cursor, a journal
// truncated below the cursor, a journal recreated past it, and a damaged
// database file.
func TestRunFromJournal(t *testing.T) {
	jdir, idir := t.TempDir(), t.TempDir()
	j := openJournal(t, jdir)
	appendAlerts(t, j, 0, 20, "r")
	if _, err := j.Append(context.Background(), [][]byte{[]byte("not a protobuf alert\xff\xff")}); err != nil {
		t.Fatal(err)
	}
	x := open(t, Options{Dir: idir, BatchSize: 7})
	run(t, x, j)
	if x.Len() != 20 || x.Next() != 22 {
		t.Fatalf("indexed %d up to %d; want 20 up to 22 (the undecodable record skipped)", x.Len(), x.Next())
	}
	x.Close()

	steps := []struct {
		name    string
		prepare func()
		want    int // alerts held after the run
		indexed uint64
		rule    string
	}{
		{"restart resumes at the cursor", func() { appendAlerts(t, j, 20, 5, "r") }, 25, 5, "r"},
		{"journal truncated below the cursor", func() {
			j.Close()
			os.RemoveAll(jdir)
			j = openJournal(t, jdir)
			appendAlerts(t, j, 0, 3, "t")
		}, 3, 3, "t"},
		{"journal recreated past the cursor", func() {
			j.Close()
			os.RemoveAll(jdir)
			j = openJournal(t, jdir)
			appendAlerts(t, j, 100, 9, "u")
		}, 9, 9, "u"},
		{"damaged database file", func() {
			os.WriteFile(filepath.Join(idir, "index.db"), []byte(strings.Repeat("not sqlite ", 1000)), 0o600)
			os.Remove(filepath.Join(idir, "index.db-wal"))
			os.Remove(filepath.Join(idir, "index.db-shm"))
		}, 9, 9, "u"},
	}
	for _, st := range steps {
		st.prepare()
		x := open(t, Options{Dir: idir})
		run(t, x, j)
		if x.Len() != st.want || x.indexed.Load() != st.indexed {
			t.Errorf("%s: holds %d (indexed %d now), want %d (%d)", st.name, x.Len(), x.indexed.Load(), st.want, st.indexed)
		}
		if r := x.Search(Query{Facets: map[int][]string{FRule: {st.rule}}}); r.Total != st.want {
			t.Errorf("%s: %d alerts of rule %s, want %d", st.name, r.Total, st.rule, st.want)
		}
		x.Close()
	}
	if m, _ := filepath.Glob(filepath.Join(idir, "index.db.corrupt-*")); len(m) != 1 {
		t.Errorf("damaged database not kept aside: %v", m)
	}
	j.Close()
}

// TestLiveFromJournalTail: viewers get new journal records from the tail,
// without waiting for the indexer.
func TestLiveFromJournalTail(t *testing.T) {
	j := openJournal(t, t.TempDir())
	defer j.Close()
	x := open(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go x.tail(ctx, j) // the tail alone: no indexer
	live, stop := x.Subscribe(64)
	defer stop()
	// The tail starts at the journal's end once it sees the viewer: send
	// probes until one arrives, then count exactly what follows.
	deadline := time.Now().Add(5 * time.Second)
	for got := false; !got; {
		appendAlerts(t, j, 0, 1, "probe")
		select {
		case <-live:
			got = true
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("live view got nothing from the journal")
			}
		}
	}
	for len(live) > 0 {
		<-live
	}
	appendAlerts(t, j, 0, 5, "live")
	for i := 0; i < 5; i++ {
		select {
		case a := <-live:
			if a.GetRule() != "live" {
				t.Fatalf("got %q", a.GetRule())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("live alert %d missing", i)
		}
	}
	if x.Len() != 0 {
		t.Fatalf("the live view indexed %d alerts", x.Len())
	}
}

// TestRetentionBySize: the database stays near max_bytes, evicting the
// oldest alerts, and the file stops growing (pages are reused).
func TestRetentionBySize(t *testing.T) {
	maxBytes, per := int64(1<<20), 200
	if raceOn {
		maxBytes, per = 320<<10, 40
	}
	x := open(t, Options{MaxBytes: maxBytes, BatchSize: per})
	big := strings.Repeat("padding words for size ", 60)
	var sizes []int64
	for b := 0; b < 12; b++ {
		var recs []rec
		for i := 0; i < per; i++ {
			n := b*per + i
			a := mk(n, "r", 3, "ns", "h")
			a.Output += big
			recs = append(recs, rec{seq: uint64(n + 1), a: a})
		}
		if err := x.write(recs, uint64(b*per+per+1), ""); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, x.Bytes())
	}
	if x.evicted.Load() == 0 || x.Len() >= 12*per {
		t.Fatalf("nothing evicted: %d held", x.Len())
	}
	if used := x.usedBytes(); used > maxBytes*5/4 {
		t.Fatalf("database holds %d bytes, bound %d", used, maxBytes)
	}
	// Newest kept, oldest gone, rollups agree with the rows.
	r := x.Search(Query{Limit: 1})
	if len(r.Hits) != 1 || r.Hits[0].Seq != uint64(12*per) || r.Total != x.Len() {
		t.Fatalf("after eviction: hits %v total %d held %d", seqs(r), r.Total, x.Len())
	}
	if r2 := x.Search(Query{Text: "padding"}); r2.Total != x.Len() {
		t.Fatalf("text finds %d of %d (fts rows left behind or lost)", r2.Total, x.Len())
	}
	if last, mid := sizes[len(sizes)-1], sizes[len(sizes)/2]; last > mid*3/2 {
		t.Fatalf("file keeps growing: %v", sizes)
	}
}

func TestMetrics(t *testing.T) {
	x := fixture(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(x.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	if got["harrier_console_index_alerts"] != 5 || got["harrier_console_index_indexed_total"] != 5 || got["harrier_console_index_bytes"] <= 0 {
		t.Fatalf("metrics %v", got)
	}
	if _, ok := got["harrier_console_index_lag_records"]; !ok {
		t.Fatalf("no lag metric: %v", got)
	}
}

// BenchmarkSearch1M fills the index with 1,000,000 alerts (40 rules, 8
// priorities, 50 hosts, 30 namespaces) and reports the p50/p95/max of a mix
// of console searches: no filter, one facet, two facets, free text, a time
// window.
func BenchmarkSearch1M(b *testing.B) {
	const n = 1_000_000
	x := open(b, Options{MaxAlerts: n, IncidentFields: []string{"k8s.ns.name"}, BatchSize: 20_000})
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	var recs []rec
	for i := 0; i < n; i++ {
		a := mk(i, fmt.Sprintf("Rule %02d", rng.IntN(40)), harrierv1.Priority(1+rng.IntN(8)), fmt.Sprintf("ns-%02d", rng.IntN(30)),
			fmt.Sprintf("node-%02d", rng.IntN(50)), "shell")
		a.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
		recs = append(recs, rec{seq: uint64(i + 1), a: a})
		if len(recs) == 20_000 {
			if err := x.write(recs, uint64(i+2), ""); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	b.Logf("filled %d alerts in %v (%d MB)", x.Len(), time.Since(start), x.Bytes()>>20)
	queries := []Query{
		{},
		{Facets: map[int][]string{FPriority: {"Critical"}}},
		{Facets: map[int][]string{FNamespace: {"ns-07"}}},
		{Facets: map[int][]string{FNamespace: {"ns-07"}, FRule: {"Rule 03"}}},
		{Text: "node-42 (user=root"},
		{From: t0.Add(500_000 * time.Second), To: t0.Add(600_000 * time.Second)},
		{Facets: map[int][]string{FHostname: {"node-01"}}, Text: "shell in ns-17"},
	}
	for qi, q := range queries {
		s := time.Now()
		x.Search(q)
		b.Logf("query %d: %v", qi, time.Since(s))
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := time.Now()
		r := x.Search(queries[i%len(queries)])
		lat = append(lat, time.Since(s))
		if r.Total == 0 {
			b.Fatalf("query %d matched nothing", i%len(queries))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// TestPausesWhileIngestIsBusy: while the journal grows fast the indexer
// yields (its lag, exported, grows towards MaxLag) and it catches up once
// ingest is quiet.
func TestPausesWhileIngestIsBusy(t *testing.T) {
	defer func(r float64, l uint64) { BusyRate, MaxLag = r, l }(BusyRate, MaxLag)
	BusyRate, MaxLag = 1, 100
	j := openJournal(t, t.TempDir())
	defer j.Close()
	x := open(t, Options{BatchSize: 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- x.Run(ctx, j) }()
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := 0; i < 300; i++ {
			b, _ := proto.Marshal(mk(i, "busy", 3, "ns", "h"))
			if _, err := j.Append(context.Background(), [][]byte{b, b, b}); err != nil {
				return
			}
			time.Sleep(time.Millisecond) // ingest's pace, not an assertion's wait
		}
	}()
	maxLag := int64(0)
	for busy := true; busy; {
		select {
		case <-appended:
			busy = false
		case <-time.After(time.Millisecond):
		}
		maxLag = max(maxLag, x.lag.Load())
	}
	deadline := time.Now().Add(20 * time.Second)
	for x.Next() < j.Next() {
		if time.Now().After(deadline) {
			t.Fatalf("no catch-up: index at %d, journal at %d", x.Next(), j.Next())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if maxLag < 50 {
		t.Fatalf("the indexer kept within %d records of a busy journal: it did not yield", maxLag)
	}
	if x.Len() != 900 {
		t.Fatalf("indexed %d of 900", x.Len())
	}
}

// sliceLog is a SharedLog over records in memory (the Kafka reader's own
// tests and the router's kfake test cover the real one).
type sliceLog struct{ recs [][]byte }

func (l sliceLog) Rebuild(ctx context.Context, since time.Time, last int, fn func(journal.Record)) error {
	for i, r := range l.recs {
		fn(journal.Record{Partition: 0, Offset: int64(i), Data: r})
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestRunSharedRebuildsAtStart: on a shared log the index is rebuilt at
// each start (no per-partition cursor), so what a replica held before is
// replaced by what the log retains.
func TestRunSharedRebuildsAtStart(t *testing.T) {
	dir := t.TempDir()
	x := open(t, Options{Dir: dir})
	x.Add(1, mk(0, "old", 3, "ns", "h"), nil)
	x.Close()
	var l sliceLog
	for i := 0; i < 5; i++ {
		b, _ := proto.Marshal(mk(i, "shared", 3, "ns", "h"))
		l.recs = append(l.recs, b)
	}
	x = open(t, Options{Dir: dir})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- x.RunShared(ctx, l) }()
	deadline := time.Now().Add(10 * time.Second)
	for x.Len() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d, want the log's 5", x.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := x.Search(Query{Facets: map[int][]string{FRule: {"old"}}}); r.Total != 0 {
		t.Fatalf("the replica kept %d alerts of its previous run", r.Total)
	}
	if got := seqs(x.Search(Query{})); !slices.Equal(got, []uint64{5, 4, 3, 2, 1}) {
		t.Fatalf("positions %v", got)
	}
}
