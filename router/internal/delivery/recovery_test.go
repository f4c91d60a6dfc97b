package delivery

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
)

func TestCursorAheadOfTheJournalIsRepaired(t *testing.T) {
	f := newFixture(t)
	f.ingest(t, "old", 10, harrierv1.Priority_PRIORITY_WARNING)
	// The output had passed sequence 500 before the journal lost its
	// segments.
	cur, err := journal.OpenCursor(f.dir+"/cursors", "webhook.a")
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.Store(500); err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t)
	p := f.pipeline()
	defer p.Stop(context.Background())
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	if f.j.Next() != 500 {
		t.Fatalf("journal next = %d; want it skipped forward to the cursor (500)", f.j.Next())
	}
	f.ingest(t, "new", 20, harrierv1.Priority_PRIORITY_WARNING)
	poll.Until(t, 10*time.Second, "new alerts delivered", func() bool { return rcv.count() == 20 })
	if got := testutil.ToFloat64(p.m.CursorRepairs.WithLabelValues("webhook.a")); got != 1 {
		t.Fatalf("cursor repairs = %v", got)
	}
	if st := f.j.Stats(); st.MissingRecords != 500-11 {
		t.Fatalf("journal stats %+v", st)
	}
}

func TestDamagedSealedSegmentLosesOnlyTheBadRecord(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir+"/journal", journal.Options{SegmentBytes: 800})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	f := &fixture{j: j, dir: dir}
	rcv := newReceiver(t)
	// The output exists (its cursor at 1) before anything is stored.
	p := f.pipeline()
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	p.Stop(context.Background())
	for range 10 {
		f.ingest(t, "a", 10, harrierv1.Priority_PRIORITY_WARNING)
	}
	// Damage one payload byte in the middle of the first sealed segment.
	seg := filepath.Join(dir, "journal", "00000000000000000001.seg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if j.Stats().Segments < 3 {
		t.Fatalf("want several segments: %+v", j.Stats())
	}
	p = f.pipeline()
	defer p.Stop(context.Background())
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	// The ids repeat per lot (a-0..a-9): count deliveries, not ids.
	poll.Until(t, 10*time.Second, "every intact alert", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		n := 0
		for _, c := range rcv.ids {
			n += c
		}
		return n == 99
	})
	if got := testutil.ToFloat64(p.m.Lost.WithLabelValues("webhook.a", journal.LossDamaged)); got != 1 {
		t.Fatalf("lost (damaged) = %v, want 1", got)
	}
	if st := j.Stats(); st.DamagedRecords != 1 {
		t.Fatalf("journal stats %+v", st)
	}
}

func TestReadErrorKeepsWhatTheBatchRead(t *testing.T) {
	f := newFixture(t)
	rcv := newReceiver(t)
	p := f.pipeline()
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	p.Stop(context.Background())
	f.ingest(t, "a", 40, harrierv1.Priority_PRIORITY_WARNING)
	// Damage record 30 of the active segment under the running journal:
	// its extent is not final, so readers stop there with an error.
	seg := filepath.Join(f.dir, "journal", "00000000000000000001.seg")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*29/40+20] ^= 0x40
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	p = f.pipeline()
	// It never catches up (the damage stays): stop without draining.
	defer p.Stop(expired(100 * time.Millisecond))
	if err := p.Apply([]Spec{rcv.spec("webhook.a", nil)}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the 29 alerts read before the error", func() bool { return rcv.count() == 29 })
	poll.Until(t, 10*time.Second, "the read error in health", func() bool {
		h := p.Health()
		return len(h) == 1 && h[0].State == StateRetrying && h[0].Position == 30
	})
}
