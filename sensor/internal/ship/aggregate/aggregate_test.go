package aggregate

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type collect struct {
	mu  sync.Mutex
	out []*harrierv1.Alert
}

func (c *collect) emit(a *harrierv1.Alert) {
	c.mu.Lock()
	c.out = append(c.out, a)
	c.mu.Unlock()
}

func mk(rule, proc, file string, at time.Time) *harrierv1.Alert {
	s := func(v string) *harrierv1.FieldValue {
		return &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: v}}
	}
	return &harrierv1.Alert{
		Id: fmt.Sprintf("%s-%s-%d", proc, file, at.UnixNano()), Rule: rule, Time: timestamppb.New(at),
		OutputFields: map[string]*harrierv1.FieldValue{"proc.name": s(proc), "fd.name": s(file)},
	}
}

func TestFoldsRepeatsPerKeyAndWindow(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	clk := &clock{t0}
	var c collect
	ag := New([]Rule{{Pattern: "Read sensitive*", Fields: []string{"proc.name"}, Window: 10 * time.Second}}, c.emit, clk.now)

	// An unaggregated rule passes untouched.
	ag.Add(mk("Other rule", "cat", "/etc/shadow", t0))
	// The first of a kind passes at once.
	ag.Add(mk("Read sensitive file", "cat", "/etc/shadow", t0))
	if len(c.out) != 2 {
		t.Fatalf("%d alerts passed at once, want 2", len(c.out))
	}
	// 5 repeats of cat (different files: fd.name is not a key field) and
	// one of vim (another key), within the window.
	for i := 1; i <= 5; i++ {
		clk.t = t0.Add(time.Duration(i) * time.Second)
		ag.Add(mk("Read sensitive file", "cat", fmt.Sprintf("/etc/f%d", i), clk.t))
	}
	ag.Add(mk("Read sensitive file", "vim", "/etc/shadow", clk.t))
	if len(c.out) != 3 {
		t.Fatalf("%d alerts out during the window, want 3 (vim is new)", len(c.out))
	}
	if ag.Held() != 5 {
		t.Fatalf("held %d, want 5", ag.Held())
	}
	ag.Tick() // window still open
	if len(c.out) != 3 {
		t.Fatal("aggregate emitted before its window closed")
	}
	clk.t = t0.Add(11 * time.Second)
	ag.Tick()
	if len(c.out) != 4 {
		t.Fatalf("%d alerts after the window, want 4", len(c.out))
	}
	agg := c.out[3]
	if agg.GetCount() != 5 || !agg.GetFirstTime().AsTime().Equal(t0.Add(time.Second)) || !agg.GetLastTime().AsTime().Equal(t0.Add(5*time.Second)) {
		t.Fatalf("aggregate count %d first %v last %v", agg.GetCount(), agg.GetFirstTime().AsTime(), agg.GetLastTime().AsTime())
	}
	// After the window a new first-of-kind passes at once again.
	ag.Add(mk("Read sensitive file", "cat", "/etc/shadow", clk.t))
	if len(c.out) != 5 || c.out[4].GetCount() != 0 {
		t.Fatalf("first alert of a new window: %d out", len(c.out))
	}
}

func TestSingleRepeatLeavesAsItselfAndFlushEmptiesAll(t *testing.T) {
	t0 := time.Now()
	clk := &clock{t0}
	var c collect
	ag := New([]Rule{{Pattern: "*", Window: time.Minute}}, c.emit, clk.now)
	ag.Add(mk("R", "a", "x", t0))
	second := mk("R", "a", "x", t0.Add(time.Second))
	ag.Add(second)
	for range 3 {
		ag.Add(mk("R", "b", "y", t0))
	}
	ag.Add(mk("R", "b", "y", t0))
	ag.Flush()
	if ag.Held() != 0 {
		t.Fatal("Flush left alerts held")
	}
	var counts []uint32
	total := 0
	for _, a := range c.out {
		counts = append(counts, a.GetCount())
		if a.GetCount() == 0 {
			total++
		} else {
			total += int(a.GetCount())
		}
	}
	if total != 6 {
		t.Fatalf("alerts accounted for: %d, want all 6 (%v)", total, counts)
	}
	found := false
	for _, a := range c.out {
		if a == second {
			found = true
		}
	}
	if !found {
		t.Fatal("a single repeat was not passed as itself")
	}
}

func TestKeyUsesAllFieldsByDefault(t *testing.T) {
	a, b := mk("R", "cat", "/x", time.Now()), mk("R", "cat", "/y", time.Now())
	if keyOf(a, nil) == keyOf(b, nil) {
		t.Fatal("alerts differing in a field share a key")
	}
	if keyOf(a, []string{"proc.name"}) != keyOf(b, []string{"proc.name"}) {
		t.Fatal("alerts agreeing on the chosen field got different keys")
	}
	c := mk("R", "cat", "/x", time.Now())
	c.OutputFields["fd.name"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: 1}}
	d := mk("R", "cat", "/x", time.Now())
	d.OutputFields["fd.name"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "1"}}
	if keyOf(c, nil) == keyOf(d, nil) {
		t.Fatal("int 1 and string \"1\" share a key")
	}
}
