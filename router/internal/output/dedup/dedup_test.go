package dedup

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/stdout"
)

func alerts(ids ...string) []*harrierv1.Alert {
	out := make([]*harrierv1.Alert, len(ids))
	for i, id := range ids {
		out[i] = &harrierv1.Alert{Id: id, Rule: "r", Output: "out-" + id}
	}
	return out
}

// failing fails the alerts whose id is in fail, the others pass.
type failing struct {
	fail      map[string]bool
	delivered []string
}

func (f *failing) Name() string { return "failing" }
func (f *failing) Close() error { return nil }
func (f *failing) Deliver(_ context.Context, as []*harrierv1.Alert) error {
	pe := &output.PartialError{}
	for i, a := range as {
		if f.fail[a.GetId()] {
			pe.Items = append(pe.Items, output.ItemError{Index: i, Err: errors.New("nope")})
			continue
		}
		f.delivered = append(f.delivered, a.GetId())
	}
	if len(pe.Items) > 0 {
		return pe
	}
	return nil
}

func TestSkipsWithinTheWindowOnARealOutput(t *testing.T) {
	var buf bytes.Buffer
	out, err := stdout.New(stdout.Config{Name: "stdout", Format: "json", Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // the seed is stamped with the real clock
	d := Wrap(out, time.Minute, 0, []string{"seeded"})
	d.now = func() time.Time { return now }
	ctx := context.Background()
	for _, step := range []struct {
		ids  []string
		want int // lines written
	}{
		{[]string{"a", "b", "a", "seeded"}, 2}, // duplicate in the batch, seeded id
		{[]string{"a", "c"}, 3},
	} {
		if err := d.Deliver(ctx, alerts(step.ids...)); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(buf.String(), "\n"); got != step.want {
			t.Fatalf("after %v: %d lines, want %d:\n%s", step.ids, got, step.want, buf.String())
		}
	}
	now = now.Add(2 * time.Minute) // past the window: delivered again
	if err := d.Deliver(ctx, alerts("a")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(buf.String(), "\n"); got != 4 || d.Skipped() != 3 {
		t.Fatalf("after the window: %d lines, %d skipped", got, d.Skipped())
	}
}

func TestFailedAlertsAreNotRememberedAndIndexesMap(t *testing.T) {
	f := &failing{fail: map[string]bool{"c": true}}
	d := Wrap(f, time.Minute, 0, nil)
	d.Deliver(context.Background(), alerts("a"))
	err := d.Deliver(context.Background(), alerts("a", "b", "c"))
	var pe *output.PartialError
	if !errors.As(err, &pe) || len(pe.Items) != 1 || pe.Items[0].Index != 2 {
		t.Fatalf("partial error not mapped to the caller's batch: %v", err)
	}
	f.fail = nil
	if err := d.Deliver(context.Background(), alerts("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.delivered, ",") != "a,b,c" {
		t.Fatalf("delivered %v", f.delivered)
	}
}

func TestMaxIDsBoundsMemory(t *testing.T) {
	f := &failing{}
	d := Wrap(f, time.Hour, 2, nil)
	d.Deliver(context.Background(), alerts("a", "b", "c"))
	d.Deliver(context.Background(), alerts("a")) // evicted: delivered again
	if len(d.seen) != 2 || len(f.delivered) != 4 {
		t.Fatalf("seen %d, delivered %v", len(d.seen), f.delivered)
	}
}
