package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/deadletter"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/webhook"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// receiver is a real HTTP webhook endpoint that records alert ids and can
// be told to answer with an error status.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ids    map[string]int
	status atomic.Int32 // non-zero: answer this
	reject string       // alert id answered with 400
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if s := r.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		b, _ := io.ReadAll(req.Body)
		a, err := falcojson.Unmarshal(b)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if a.GetId() == r.reject {
			http.Error(w, "rejected by receiver", 400)
			return
		}
		r.ids[a.GetId()]++
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *receiver) spec(name string, f *harrierv1.AlertFilter) Spec {
	return Spec{
		Name:        name,
		Build:       func() (output.Output, error) { return webhook.New(webhook.Config{Name: name, Address: r.srv.URL}) },
		Filter:      alertfilter.New(f),
		BatchSize:   50,
		Backoff:     Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		Fingerprint: name + r.srv.URL + f.String(),
	}
}

type fixture struct {
	j    *journal.Journal
	dead *deadletter.Store
	dir  string
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	j, err := journal.Open(dir+"/journal", journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	d, _ := deadletter.Open(dir + "/dead")
	return &fixture{j: j, dead: d, dir: dir}
}

func (f *fixture) pipeline() *Pipeline { return New(f.j, f.dir+"/cursors", f.dead, nil, nil) }

func (f *fixture) ingest(t *testing.T, prefix string, n int, p harrierv1.Priority) {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i], _ = proto.Marshal(&harrierv1.Alert{Id: fmt.Sprintf("%s-%d", prefix, i), Rule: "r", Priority: p, Source: "syscall"})
	}
	if _, err := f.j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func TestDeliversAndResumesFromCursor(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t)
	p := f.pipeline()
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	f.ingest(t, "a", 120, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "120 alerts", func() bool { return rcv.count() == 120 })
	p.Stop(context.Background())

	// Queued while the router is "down": delivered after restart, and
	// nothing delivered before is sent again.
	f.ingest(t, "b", 30, harrierv1.Priority_PRIORITY_WARNING)
	p = f.pipeline()
	p.Apply([]Spec{rcv.spec("webhook.a", nil)})
	defer p.Stop(context.Background())
	poll.Until(t, 10*time.Second, "150 alerts", func() bool { return rcv.count() == 150 })
	rcv.mu.Lock()
	for id, n := range rcv.ids {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	rcv.mu.Unlock()
}

func TestMinimumPriorityAndFilters(t *testing.T) {
	f := newFixture(t)
	crit, all := newReceiver(t), newReceiver(t)
	p := f.pipeline()
	defer p.Stop(context.Background())
	p.Apply([]Spec{
		crit.spec("webhook.crit", &harrierv1.AlertFilter{MinPriority: harrierv1.Priority_PRIORITY_CRITICAL}),
		all.spec("webhook.all", nil),
	})
	f.ingest(t, "w", 10, harrierv1.Priority_PRIORITY_WARNING)
	f.ingest(t, "c", 5, harrierv1.Priority_PRIORITY_CRITICAL)
	f.ingest(t, "e", 3, harrierv1.Priority_PRIORITY_EMERGENCY)
	poll.Until(t, 10*time.Second, "all 18", func() bool { return all.count() == 18 })
	poll.Until(t, 10*time.Second, "8 critical+", func() bool { return crit.count() == 8 })
	time.Sleep(50 * time.Millisecond)
	if crit.count() != 8 {
		t.Fatalf("critical output got %d", crit.count())
	}
}

func TestTransientOutageLosesNothingAndDoesNotSlowOthers(t *testing.T) {
	f := newFixture(t)
	down, up := newReceiver(t), newReceiver(t)
	down.status.Store(503)
	p := f.pipeline()
	defer p.Stop(context.Background())
	p.Apply([]Spec{down.spec("webhook.down", nil), up.spec("webhook.up", nil)})
	f.ingest(t, "x", 200, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "healthy output delivers during the outage", func() bool { return up.count() == 200 })
	var h Health
	poll.Until(t, 10*time.Second, "retrying state", func() bool {
		for _, x := range p.Health() {
			if x.Name == "webhook.down" {
				h = x
			}
		}
		return h.State == StateRetrying
	})
	if h.QueueDepth != 200 || h.LastError == "" {
		t.Fatalf("health during outage: %+v", h)
	}
	down.status.Store(0)
	poll.Until(t, 10*time.Second, "recovery", func() bool { return down.count() == 200 })
}

func TestPermanentFailureGoesToDeadLettersAndReplays(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t)
	rcv.reject = "p-3"
	p := f.pipeline()
	defer p.Stop(context.Background())
	p.Apply([]Spec{rcv.spec("webhook.a", nil)})
	f.ingest(t, "p", 10, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "9 delivered", func() bool { return rcv.count() == 9 })
	var ls []*harrierv1.DeadLetter
	poll.Until(t, 10*time.Second, "dead letter", func() bool { ls, _, _ = f.dead.List("webhook.a", 0); return len(ls) == 1 })
	if ls[0].GetAlert().GetId() != "p-3" || ls[0].GetReason() == "" {
		t.Fatalf("dead letter %v", ls[0])
	}
	ok, failed, err := p.Replay(context.Background(), "webhook.a")
	if err != nil || ok != 0 || failed != 1 {
		t.Fatalf("replay while still rejected: %d %d %v", ok, failed, err)
	}
	rcv.mu.Lock()
	rcv.reject = ""
	rcv.mu.Unlock()
	ok, failed, err = p.Replay(context.Background(), "webhook.a")
	if err != nil || ok != 1 || failed != 0 || rcv.count() != 10 {
		t.Fatalf("replay: %d %d %v; receiver has %d", ok, failed, err, rcv.count())
	}
	if _, total, _ := f.dead.List("", 0); total != 0 {
		t.Fatalf("%d dead letters left", total)
	}
}

func TestRemovedOutputKeepsItsQueue(t *testing.T) {
	f := newFixture(t)
	a, b := newReceiver(t), newReceiver(t)
	p := f.pipeline()
	defer p.Stop(context.Background())
	p.Apply([]Spec{a.spec("webhook.a", nil), b.spec("webhook.b", nil)})
	f.ingest(t, "1", 10, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "first", func() bool { return a.count() == 10 && b.count() == 10 })
	p.Apply([]Spec{a.spec("webhook.a", nil)})
	if got := p.Outputs(); len(got) != 1 {
		t.Fatalf("outputs %v", got)
	}
	f.ingest(t, "2", 10, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "a gets the second lot", func() bool { return a.count() == 20 })
	p.Apply([]Spec{a.spec("webhook.a", nil), b.spec("webhook.b", nil)})
	poll.Until(t, 10*time.Second, "b catches up after re-adding", func() bool { return b.count() == 20 })
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for n, max := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		max *= time.Millisecond
		for i := 0; i < 20; i++ {
			if d := b.Delay(n); d < max/2 || d > max {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v]", n, d, max/2, max)
			}
		}
	}
}
