package sink

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func alert(id string, p harrierv1.Priority) *harrierv1.Alert {
	return &harrierv1.Alert{
		Id:       id,
		Time:     timestamppb.New(time.Date(2026, 11, 24, 12, 0, 0, 5, time.UTC)),
		Rule:     "Create Privileged Pod",
		Priority: p,
		Source:   "k8s_audit",
		Output:   "12:00:00.000000005: Warning Pod started with privileged container (user=admin)",
		OutputFields: map[string]*harrierv1.FieldValue{
			"ka.user.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "admin"}},
		},
		Tags:     []string{"k8s"},
		Hostname: "node-1",
	}
}

func TestWriterTextAndJSON(t *testing.T) {
	var text, js bytes.Buffer
	tw, jw := NewWriter("stdout", &text, false), NewWriter("stdout", &js, true)
	a := alert("a1", harrierv1.Priority_PRIORITY_WARNING)
	if err := tw.Send(a); err != nil {
		t.Fatal(err)
	}
	if err := jw.Send(a); err != nil {
		t.Fatal(err)
	}
	if text.String() != a.GetOutput()+"\n" {
		t.Fatalf("text line %q", text.String())
	}
	back, err := falcojson.Unmarshal(bytes.TrimSpace(js.Bytes()))
	if err != nil {
		t.Fatalf("JSON line is not Falco JSON: %v (%s)", err, js.String())
	}
	if back.GetRule() != a.GetRule() || back.GetPriority() != a.GetPriority() || back.GetOutputFields()["ka.user.name"].GetStringValue() != "admin" {
		t.Fatalf("round trip: %v", back)
	}
	if !strings.Contains(js.String(), `"priority":"Warning"`) {
		t.Fatalf("priority not in Falco's spelling: %s", js.String())
	}
}

func TestFileJSONLinesAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "alerts.jsonl")
	f, err := NewFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Send(alert("a1", harrierv1.Priority_PRIORITY_ERROR))
	// logrotate moves the file, then the sensor reopens.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	_ = f.Send(alert("a2", harrierv1.Priority_PRIORITY_ERROR))
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	_ = f.Send(alert("a3", harrierv1.Priority_PRIORITY_ERROR))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ids := func(p string) []string {
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		var out []string
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			a, err := falcojson.Unmarshal(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: bad line %q: %v", p, sc.Text(), err)
			}
			out = append(out, a.GetId())
		}
		return out
	}
	if got := ids(path + ".1"); strings.Join(got, ",") != "a1,a2" {
		t.Fatalf("rotated file holds %v", got)
	}
	if got := ids(path); strings.Join(got, ",") != "a3" {
		t.Fatalf("new file holds %v", got)
	}
}

func TestHTTPPostsFalcoJSONAndRetries(t *testing.T) {
	var mu sync.Mutex
	var got []*harrierv1.Alert
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n == 1 { // the first attempt fails: the alert must be retried
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		a, err := falcojson.Unmarshal(body)
		if err != nil {
			t.Errorf("posted body is not Falco JSON: %v", err)
			http.Error(w, "bad", 400)
			return
		}
		if a.GetRule() == "refuse me" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, Logger: quiet})
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := h.Send(alert(id, harrierv1.Priority_PRIORITY_WARNING)); err != nil {
			t.Fatal(err)
		}
	}
	bad := alert("a4", harrierv1.Priority_PRIORITY_WARNING)
	bad.Rule = "refuse me"
	_ = h.Send(bad)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].GetId() != "a1" || got[2].GetId() != "a3" {
		t.Fatalf("receiver got %d alerts", len(got))
	}
	if v := testutil.ToFloat64(h.posted); v != 3 {
		t.Fatalf("posted counter %v", v)
	}
	if v := testutil.ToFloat64(h.dropped); v != 1 {
		t.Fatalf("dropped counter %v, want 1 (the 400 is not retried)", v)
	}
	if c := calls.Load(); c != 5 {
		t.Fatalf("%d requests, want 5 (one retry, no retry of a 400)", c)
	}
	if err := h.Send(alert("late", harrierv1.Priority_PRIORITY_WARNING)); err == nil {
		t.Fatal("Send after Close accepted")
	}
}

// The sink retries exactly what the shared rule (proto/retry) calls
// transient: 408 and 425 as well as 429 and 5xx.
func TestHTTPRetriesByTheSharedRule(t *testing.T) {
	for _, tt := range []struct {
		status int
		calls  int64 // requests for one alert with Attempts: 2
	}{{408, 2}, {425, 2}, {429, 2}, {500, 2}, {503, 2}, {400, 1}, {401, 1}, {404, 1}, {422, 1}} {
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(tt.status)
		}))
		h := NewHTTP(HTTPConfig{URL: srv.URL, Attempts: 2, Logger: quiet})
		if err := h.Send(alert("a", harrierv1.Priority_PRIORITY_WARNING)); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if c := calls.Load(); c != tt.calls {
			t.Errorf("status %d: %d requests, want %d", tt.status, c, tt.calls)
		}
		if v := testutil.ToFloat64(h.dropped); v != 1 {
			t.Errorf("status %d: dropped counter %v, want 1", tt.status, v)
		}
	}
}

func TestHTTPQueueFullDropsAndCounts(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, Queue: 2, Attempts: 1, Logger: quiet})
	var errs int
	for i := range 10 {
		if err := h.Send(alert(string(rune('a'+i)), harrierv1.Priority_PRIORITY_WARNING)); err != nil {
			errs++
		}
	}
	if errs < 7 || testutil.ToFloat64(h.dropped) != float64(errs) {
		t.Fatalf("%d refused, dropped counter %v: a full queue must refuse and count", errs, testutil.ToFloat64(h.dropped))
	}
	close(block)
	h.Close()
}

type failing struct{ n int }

func (f *failing) Name() string { return "broken" }
func (f *failing) Send(*harrierv1.Alert) error {
	f.n++
	return errors.New("disk on fire")
}
func (f *failing) Close() error { return nil }

func TestFanoutMinPriorityAndFailureIsolation(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter("stdout", &buf, false)
	bad := &failing{}
	f := NewFanout(harrierv1.Priority_PRIORITY_WARNING, quiet, bad, w)
	f.Send(alert("crit", harrierv1.Priority_PRIORITY_CRITICAL))
	f.Send(alert("warn", harrierv1.Priority_PRIORITY_WARNING))
	f.Send(alert("info", harrierv1.Priority_PRIORITY_INFORMATIONAL))
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("stdout got %d alerts, want 2 (info is below warning)", n)
	}
	if bad.n != 2 {
		t.Fatalf("failing sink called %d times", bad.n)
	}
	if v := testutil.ToFloat64(f.failed.WithLabelValues("broken")); v != 2 {
		t.Fatalf("error counter %v", v)
	}
	if v := testutil.ToFloat64(f.sent.WithLabelValues("stdout")); v != 2 {
		t.Fatalf("sent counter %v", v)
	}
}

func TestHTTPCloseIsBoundedWhenTheReceiverIsDead(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	h := NewHTTP(HTTPConfig{URL: srv.URL, CloseTimeout: 300 * time.Millisecond, Logger: quiet})
	for i := range 50 {
		_ = h.Send(alert(string(rune('a'+i)), harrierv1.Priority_PRIORITY_WARNING))
	}
	start := time.Now()
	err := h.Close()
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Close took %v", el)
	}
	if err == nil {
		t.Fatal("Close did not report the alerts it dropped")
	}
	if v := testutil.ToFloat64(h.dropped); v != 50 {
		t.Fatalf("dropped %v, want all 50 counted", v)
	}
}

type batchRecorder struct {
	batches [][]*harrierv1.Alert
}

func (b *batchRecorder) Name() string { return "batch" }
func (b *batchRecorder) Send(a *harrierv1.Alert) error {
	return errors.New("Send called on a batch sink")
}
func (b *batchRecorder) Close() error { return nil }
func (b *batchRecorder) SendBatch(as []*harrierv1.Alert) error {
	b.batches = append(b.batches, as)
	return nil
}

func TestFanoutSendAllBatchesAndFilters(t *testing.T) {
	var buf bytes.Buffer
	rec := &batchRecorder{}
	f := NewFanout(harrierv1.Priority_PRIORITY_WARNING, quiet, rec, NewWriter("stdout", &buf, false))
	f.SendAll([]*harrierv1.Alert{
		alert("a", harrierv1.Priority_PRIORITY_ERROR),
		alert("b", harrierv1.Priority_PRIORITY_DEBUG),
		alert("c", harrierv1.Priority_PRIORITY_WARNING),
	})
	if len(rec.batches) != 1 || len(rec.batches[0]) != 2 || rec.batches[0][1].GetId() != "c" {
		t.Fatalf("batch sink got %v", rec.batches)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("plain sink got %d alerts, want 2", n)
	}
	f.SendAll([]*harrierv1.Alert{alert("d", harrierv1.Priority_PRIORITY_DEBUG)})
	if len(rec.batches) != 1 {
		t.Fatal("an empty batch after filtering was sent")
	}
}
