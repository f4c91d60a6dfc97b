package delivery

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

// fakeClock is the throttle's injected clock.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func fleetAlert(i int) *harrierv1.Alert {
	sensor := fmt.Sprintf("sensor-%d", i%3) // three sensors send the same alert
	return &harrierv1.Alert{Id: fmt.Sprintf("a-%d", i), Rule: "Terminal shell in container",
		Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: sensor, SensorId: sensor,
		Output: "shell in nginx", Time: timestamppb.New(time.Unix(1000+int64(i), 0)),
		OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "prod"}}}}
}

func TestThrottleCountsAddUp(t *testing.T) {
	clk := &fakeClock{}
	clk.ns.Store(time.Unix(5000, 0).UnixNano())
	th := newThrottler(Throttle{Rate: 7, Window: 5 * time.Minute, Fields: []string{"k8s.ns.name"}, Now: clk.now})
	passed, held := 0, 0
	var sums []*harrierv1.Alert
	// 10,000 alerts over two windows: 5,000 in each.
	for i := range 10000 {
		if i == 5000 {
			clk.advance(5 * time.Minute)
		}
		ok, s := th.admit(fleetAlert(i))
		sums = append(sums, s...)
		if ok {
			passed++
		} else {
			held++
		}
	}
	clk.advance(5 * time.Minute)
	s, next := th.due()
	sums = append(sums, s...)
	if passed != 14 || held != 9986 || len(sums) != 2 || !next.IsZero() {
		t.Fatalf("passed %d held %d summaries %d next %v", passed, held, len(sums), next)
	}
	total := 0
	for _, s := range sums {
		total += int(s.GetCount())
		if !strings.HasPrefix(s.GetOutput(), "4993 more like this in 5m: shell in nginx") {
			t.Errorf("summary output %q", s.GetOutput())
		}
		if s.GetRule() != "Terminal shell in container" || s.GetOutputFields()["harrier.throttle.held"].GetIntValue() != 4993 ||
			s.GetFirstTime().AsTime().After(s.GetLastTime().AsTime()) || s.GetId() == "" {
			t.Errorf("summary %v", s)
		}
	}
	if total+passed != 10000 {
		t.Fatalf("counts: %d summarised + %d passed != 10000", total, passed)
	}
	if th.pending() != 0 {
		t.Fatalf("pending %d", th.pending())
	}
}

func TestThrottleKeysAreSeparate(t *testing.T) {
	clk := &fakeClock{}
	th := newThrottler(Throttle{Rate: 1, Window: time.Minute, Fields: []string{"hostname"}, Now: clk.now})
	for i := range 30 {
		th.admit(fleetAlert(i)) // three hosts: one key each
	}
	if th.pending() != 27 {
		t.Fatalf("pending %d, want 27", th.pending())
	}
	clk.advance(time.Minute)
	sums, _ := th.due()
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want one per host", len(sums))
	}
}

// capture is an in-process output that keeps what it was given.
type capture struct {
	mu     sync.Mutex
	alerts []*harrierv1.Alert
}

func (c *capture) Name() string { return "capture" }
func (c *capture) Close() error { return nil }
func (c *capture) Deliver(_ context.Context, as []*harrierv1.Alert) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, as...)
	return nil
}

func (c *capture) snapshot() []*harrierv1.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*harrierv1.Alert(nil), c.alerts...)
}

// Through the pipeline: 10,000 identical alerts from three sensors give the
// configured number plus one summary, and the metrics count the rest.
func TestPipelineThrottle(t *testing.T) {
	f := newFixture(t)
	clk := &fakeClock{}
	clk.ns.Store(time.Now().UnixNano())
	out := &capture{}
	p := f.pipeline()
	defer p.Stop(context.Background())
	err := p.Apply([]Spec{{Name: "capture", Build: func() (output.Output, error) { return out, nil }, BatchSize: 500,
		Throttle: Throttle{Rate: 5, Window: time.Hour, Now: clk.now}}})
	if err != nil {
		t.Fatal(err)
	}
	recs := make([][]byte, 10000)
	for i := range recs {
		recs[i], _ = proto.Marshal(fleetAlert(i))
	}
	if _, err := f.j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	held := func() float64 { return counterValue(t, p.m.Throttled, "capture") }
	poll.Until(t, 10*time.Second, "9,995 held back", func() bool { return held() == 9995 })
	if n := len(out.snapshot()); n != 5 {
		t.Fatalf("delivered %d, want 5", n)
	}
	// The window ends; the next alert of the key brings its summary.
	clk.advance(time.Hour)
	last, _ := proto.Marshal(fleetAlert(10000))
	f.j.Append(context.Background(), [][]byte{last})
	poll.Until(t, 10*time.Second, "summary and the next alert", func() bool { return len(out.snapshot()) == 7 })
	got := out.snapshot()
	sum := got[5]
	if sum.GetCount() != 9995 || !strings.HasPrefix(sum.GetOutput(), "9995 more like this in 1h: ") {
		t.Fatalf("summary %v", sum)
	}
	if got[6].GetId() != "a-10000" {
		t.Fatalf("after the summary: %s", got[6].GetId())
	}
	// A window that ends with no later alert of its key is summarised
	// all the same.
	for i := 10001; i < 10011; i++ {
		b, _ := proto.Marshal(fleetAlert(i))
		f.j.Append(context.Background(), [][]byte{b})
	}
	poll.Until(t, 10*time.Second, "six more held back (four pass)", func() bool { return held() == 9995+6 })
	clk.advance(time.Hour)
	poll.Until(t, 10*time.Second, "the idle window's summary", func() bool { return len(out.snapshot()) == 7+4+1 })
	if s := out.snapshot()[11]; s.GetCount() != 6 {
		t.Fatalf("second summary counts %d, want 6", s.GetCount())
	}
	if n := counterValue(t, p.m.Summaries, "capture"); n != 2 {
		t.Fatalf("summaries metric %v", n)
	}
}

func counterValue(t *testing.T, v *prometheus.CounterVec, label string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(label).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
