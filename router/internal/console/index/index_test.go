package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

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

func fixture() *Index {
	x := New(Options{IncidentFields: []string{"k8s.ns.name"}, Now: func() time.Time { return t0.Add(time.Hour) }})
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
	x := fixture()
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
	x := fixture()
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
	x := New(Options{MaxAlerts: 3, MaxAge: 5 * time.Minute, Now: func() time.Time { return now }})
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

func TestRunFromJournal(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var recs [][]byte
	for i := 0; i < 20; i++ {
		b, _ := proto.Marshal(mk(i, "r", 3, "ns", "h"))
		recs = append(recs, b)
	}
	recs = append(recs, []byte("not a protobuf alert\xff\xff"))
	if _, err := j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	x := New(Options{})
	live, cancelSub := x.Subscribe(64)
	defer cancelSub()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- x.Run(ctx, j) }()
	deadline := time.Now().Add(5 * time.Second)
	for x.Next() < 22 {
		if time.Now().After(deadline) {
			t.Fatalf("index at %d, journal at %d", x.Next(), j.Next())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if x.Len() != 20 || len(live) != 20 {
		t.Fatalf("indexed %d, streamed %d; want 20 (the undecodable record skipped)", x.Len(), len(live))
	}
}

// BenchmarkSearch1M fills the index with 1,000,000 alerts (40 rules, 8
// priorities, 50 hosts, 30 namespaces) and reports the p50/p95/max of a mix
// of console searches: no filter, one facet, two facets, free text, a time
// window.
func BenchmarkSearch1M(b *testing.B) {
	const n = 1_000_000
	x := New(Options{MaxAlerts: n, IncidentFields: []string{"k8s.ns.name"}})
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := 0; i < n; i++ {
		a := mk(i, fmt.Sprintf("Rule %02d", rng.IntN(40)), harrierv1.Priority(1+rng.IntN(8)), fmt.Sprintf("ns-%02d", rng.IntN(30)),
			fmt.Sprintf("node-%02d", rng.IntN(50)), "shell")
		a.Time = timestamppb.New(t0.Add(time.Duration(i) * time.Second))
		x.Add(uint64(i+1), a, nil)
	}
	b.Logf("filled %d alerts in %v", x.Len(), time.Since(start))
	queries := []Query{
		{},
		{Facets: map[int][]string{FPriority: {"Critical"}}},
		{Facets: map[int][]string{FNamespace: {"ns-07"}}},
		{Facets: map[int][]string{FNamespace: {"ns-07"}, FRule: {"Rule 03"}}},
		{Text: "node-42 (user=root"},
		{From: t0.Add(500_000 * time.Second), To: t0.Add(600_000 * time.Second)},
		{Facets: map[int][]string{FHostname: {"node-01"}}, Text: "shell in ns-1"},
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

// TestSearchParallelHalves covers the two-goroutine scan of a large index:
// order, totals and counts must be those of one scan.
func TestSearchParallelHalves(t *testing.T) {
	const n = 1000
	defer func(m int) { parallelMin = m }(parallelMin)
	parallelMin = 100
	x := New(Options{MaxAlerts: n})
	for i := 0; i < n; i++ {
		rule := "common"
		if i < 10 || i >= n-3 {
			rule = "rare"
		}
		x.Add(uint64(i+1), mk(i, rule, 3, "ns", "h"), nil)
	}
	r := x.Search(Query{Facets: map[int][]string{FRule: {"rare"}}, Limit: 5})
	if got := seqs(r); r.Total != 13 || !slices.Equal(got, []uint64{n, n - 1, n - 2, 10, 9}) {
		t.Fatalf("rare: total %d, hits %v", r.Total, got)
	}
	r = x.Search(Query{Limit: 2})
	if r.Total != n || r.Counts["rule"][0] != (Count{"common", n - 13}) || !slices.Equal(seqs(r), []uint64{n, n - 1}) {
		t.Fatalf("all: total %d counts %v hits %v", r.Total, r.Counts["rule"], seqs(r))
	}
	sum := 0
	for _, b := range r.Timeline {
		sum += b.ByPriority["Critical"]
	}
	if sum != n {
		t.Fatalf("timeline holds %d", sum)
	}
}
