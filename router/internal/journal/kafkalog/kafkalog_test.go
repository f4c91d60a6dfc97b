package kafkalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/proto"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// The peer is kfake: franz-go's in-process broker, speaking the real Kafka
// protocol (produce, consumer groups, offset commits) on a loopback socket.
func open(t *testing.T) *Log {
	t.Helper()
	cl := kafkapeer.Start(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := Open(ctx, Config{Brokers: []string{cl.Addr()}, Topic: "alerts", Partitions: 4, ReplicationFactor: 1,
		FetchMaxWait: 50 * time.Millisecond, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendAlerts(t *testing.T, l *Log, key string, from, n int) {
	t.Helper()
	b := journal.Batch{Key: key}
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("%s-%d", key, i)
		data, _ := proto.Marshal(&harrierv1.Alert{Id: id, Rule: "r", SensorId: key})
		b.Recs = append(b.Recs, data)
		b.IDs = append(b.IDs, id)
	}
	done, err := l.AppendBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-done:
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append not acknowledged")
	}
}

func alertID(t *testing.T, r journal.Record) string {
	t.Helper()
	a := &harrierv1.Alert{}
	if err := proto.Unmarshal(r.Data, a); err != nil {
		t.Fatal(err)
	}
	if a.GetId() != r.ID {
		t.Fatalf("header id %q, payload id %q", r.ID, a.GetId())
	}
	return a.GetId()
}

func TestKeyKeepsOneSensorInOrderAndIDTravels(t *testing.T) {
	l := open(t)
	g, err := l.Join("harrier-output-test")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	// The group starts at the end: wait until it is assigned, then append.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := g.Poll(withTimeout(ctx, 500*time.Millisecond), 10); err != nil && ctx.Err() != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		for _, s := range []string{"s1", "s2", "s3"} {
			appendAlerts(t, l, s, round*10, 10)
		}
	}
	partOf := map[string]int32{}
	next := map[string]int{}
	for got := 0; got < 90; {
		recs, err := g.Poll(ctx, 100)
		if err != nil {
			t.Fatalf("after %d: %v", got, err)
		}
		for _, r := range recs {
			id := alertID(t, r)
			var s string
			var i int
			fmt.Sscanf(id, "s%d-%d", new(int), &i)
			s = id[:2]
			if p, ok := partOf[s]; ok && p != r.Partition {
				t.Fatalf("%s on partitions %d and %d", s, p, r.Partition)
			}
			partOf[s] = r.Partition
			if i != next[s] {
				t.Fatalf("%s: got alert %d, want %d (order)", s, i, next[s])
			}
			next[s]++
			got++
		}
		if err := g.Commit(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
}

func withTimeout(ctx context.Context, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(ctx, d)
	go func() { <-c.Done(); cancel() }()
	return c
}

// Two members share the group's work; when one leaves, the other takes
// its partitions and resumes after the last commit: every record is
// delivered at least once and none is lost.
func TestGroupSharesAndRebalances(t *testing.T) {
	l := open(t)
	const group = "harrier-output-share"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	perMember := [2]int{}
	members := [2]*Group{}
	stop := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	var wg sync.WaitGroup
	for m := range members {
		g, err := l.Join(group)
		if err != nil {
			t.Fatal(err)
		}
		members[m] = g
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer g.Close()
			for {
				select {
				case <-stop[m]:
					return
				default:
				}
				recs, err := g.Poll(withTimeout(ctx, 200*time.Millisecond), 20)
				if err != nil && ctx.Err() != nil {
					return
				}
				mu.Lock()
				for _, r := range recs {
					seen[r.ID]++
					perMember[m]++
				}
				mu.Unlock()
				_ = g.Commit(ctx, recs)
			}
		}()
	}
	// Both members assigned before appending (new groups start at the end).
	waitFor(t, ctx, "both members assigned", func() bool {
		groups, err := l.adm.DescribeGroups(ctx, group)
		if err != nil {
			return false
		}
		d := groups[group]
		return len(d.Members) == 2 && d.State == "Stable"
	})
	// A cooperative rebalance settles in more than one round: append until
	// both members have had work (bounded), every record is seen.
	sent := 0
	for round := 0; ; round++ {
		for i := 0; i < 32; i++ { // 32 keys: every partition gets some
			appendAlerts(t, l, fmt.Sprintf("k%d", i), round*8, 8)
		}
		sent += 256
		waitFor(t, ctx, "every record shared", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == sent
		})
		mu.Lock()
		both := perMember[0] > 0 && perMember[1] > 0
		mu.Unlock()
		if both {
			break
		}
		if round == 20 {
			t.Fatalf("work not shared after %d records: %v", sent, perMember)
		}
	}
	// Member 0 leaves; member 1 takes every partition.
	close(stop[0])
	for i := 0; i < 32; i++ {
		appendAlerts(t, l, fmt.Sprintf("k%d", i), 10000, 8)
	}
	sent += 256
	waitFor(t, ctx, "every record after a member left", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == sent
	})
	close(stop[1])
	wg.Wait()
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFollowAndReplay(t *testing.T) {
	l := open(t)
	before := time.Now()
	appendAlerts(t, l, "old", 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs, err := l.Replay(ctx, time.Time{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 { // one key, one partition: its last 3
		t.Fatalf("replay last 3: %d records", len(recs))
	}
	if recs, _ = l.Replay(ctx, before.Add(-time.Second), 0); len(recs) != 5 {
		t.Fatalf("replay since: %d records", len(recs))
	}
	got := make(chan string, 100)
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Follow(fctx, func(r journal.Record) { got <- r.ID }) }()
	// Follow starts at the end: keep appending until it sees new alerts.
	ids := map[string]bool{}
	for i := 0; len(ids) == 0 || !ids["new-0"] && i < 100; i++ {
		appendAlerts(t, l, "new", i, 1)
		select {
		case id := <-got:
			ids[id] = true
		case <-time.After(300 * time.Millisecond):
		}
	}
	for id := range ids {
		if id[:3] != "new" {
			t.Fatalf("follow saw stored alert %s", id)
		}
	}
	fcancel()
	<-done
}

func TestDeadLettersListAndReplay(t *testing.T) {
	l := open(t)
	d := l.DeadLetters()
	ctx := context.Background()
	var ls []*harrierv1.DeadLetter
	for i := 0; i < 3; i++ {
		ls = append(ls, &harrierv1.DeadLetter{Output: "webhook.a", Reason: "400", Alert: &harrierv1.Alert{Id: fmt.Sprintf("a%d", i), Rule: "r"}})
	}
	if err := d.Add(ctx, "webhook.a", ls); err != nil {
		t.Fatal(err)
	}
	if err := d.Add(ctx, "webhook.b", ls[:1]); err != nil {
		t.Fatal(err)
	}
	all, total, err := d.List("", 0)
	if err != nil || total != 4 || len(all) != 4 {
		t.Fatalf("list: %d %d %v", len(all), total, err)
	}
	// A second replica's view of the same topic agrees.
	if _, n, _ := l.DeadLetters().List("webhook.a", 0); n != 3 {
		t.Fatalf("webhook.a: %d", n)
	}
	ok, failed, err := d.Replay("webhook.a", func(in []*harrierv1.DeadLetter) []*harrierv1.DeadLetter {
		return in[2:] // the last one fails again
	})
	if err != nil || ok != 2 || failed != 1 {
		t.Fatalf("replay: %d %d %v", ok, failed, err)
	}
	left, n, err := d.List("webhook.a", 0)
	if err != nil || n != 1 || left[0].GetAlert().GetId() != "a2" {
		t.Fatalf("after replay: %v %d %v", left, n, err)
	}
	if outs, _ := d.Outputs(); len(outs) != 2 || d.Counts()["webhook.b"] != 1 {
		t.Fatalf("outputs %v counts %v", outs, d.Counts())
	}
}

// A new output's group starts where the log is when it joins: records
// stored before are not its, records stored right after (before the
// group's first assignment) are.
func TestNewGroupStartsAtJoin(t *testing.T) {
	l := open(t)
	appendAlerts(t, l, "before", 0, 5)
	g, err := l.Join("harrier-output-new")
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	appendAlerts(t, l, "after", 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []string
	for len(got) < 5 {
		recs, err := g.Poll(ctx, 10)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		for _, r := range recs {
			got = append(got, r.ID)
		}
	}
	for _, id := range got {
		if id[:5] != "after" {
			t.Fatalf("new group delivered %s, stored before it joined", id)
		}
	}
}

// SASL (PLAIN and SCRAM) against a kfake broker that requires it; a wrong
// password fails Open with an error naming the brokers.
func TestSASL(t *testing.T) {
	for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			kmech := map[string]string{"plain": "PLAIN", "scram-sha-256": "SCRAM-SHA-256", "scram-sha-512": "SCRAM-SHA-512"}[mech]
			cl := kafkapeer.Start(t, 2, nil, kfake.EnableSASL(), kfake.Superuser(kmech, "harrier", "s3cret"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m, err := SASLMechanism(mech, "harrier", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			l, err := Open(ctx, Config{Brokers: []string{cl.Addr()}, Topic: "alerts", Partitions: 2, ReplicationFactor: 1, SASL: m})
			if err != nil {
				t.Fatal(err)
			}
			appendAlerts(t, l, "s", 0, 3)
			l.Close()
			bad, _ := SASLMechanism(mech, "harrier", "wrong")
			sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer scancel()
			if l, err := Open(sctx, Config{Brokers: []string{cl.Addr()}, Topic: "alerts", Partitions: 2, ReplicationFactor: 1, SASL: bad}); err == nil {
				l.Close()
				t.Fatal("a wrong password opened the journal")
			} else if !strings.Contains(err.Error(), cl.Addr()) {
				t.Fatalf("error does not name the brokers: %v", err)
			}
		})
	}
	if _, err := SASLMechanism("gssapi", "u", "p"); err == nil {
		t.Fatal("gssapi accepted")
	}
}

// Rebuild starts at the later of its two bounds, then follows with the same
// reader: a marker appended after the call arrives after every retained
// record of its partition (one key, one partition), so the count is final
// when the marker shows.
func TestRebuildBoundsThenFollows(t *testing.T) {
	for _, tc := range []struct {
		name  string
		since func(before, after time.Time) time.Time
		last  int
		want  int
	}{
		{"no bounds: all", func(time.Time, time.Time) time.Time { return time.Time{} }, 0, 5},
		{"last 3", func(time.Time, time.Time) time.Time { return time.Time{} }, 3, 3},
		{"since before all, last 2: the later bound", func(b, _ time.Time) time.Time { return b }, 2, 2},
		{"since before all", func(b, _ time.Time) time.Time { return b }, 0, 5},
		{"since after all", func(_, a time.Time) time.Time { return a }, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := open(t)
			before := time.Now().Add(-time.Second)
			appendAlerts(t, l, "k", 0, 5)
			after := time.Now().Add(time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var mu sync.Mutex
			var ids []string
			done := make(chan error, 1)
			go func() {
				done <- l.Rebuild(ctx, tc.since(before, after), tc.last, func(r journal.Record) {
					mu.Lock()
					ids = append(ids, r.ID)
					mu.Unlock()
				})
			}()
			// Records delivered prove the bounds are taken; then markers
			// (same key, so after the retained ones) until one shows.
			waitFor(t, ctx, "the retained records", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(ids) >= tc.want
			})
			for i := 100; ; i++ {
				appendAlerts(t, l, "k", i, 1)
				mu.Lock()
				seen := slices.ContainsFunc(ids, func(id string) bool { return len(id) > 4 })
				mu.Unlock()
				if seen {
					break
				}
				if ctx.Err() != nil {
					t.Fatal("no marker followed")
				}
				time.Sleep(100 * time.Millisecond) // pace the markers, not an assertion
			}
			cancel()
			<-done
			mu.Lock()
			defer mu.Unlock()
			retained := slices.IndexFunc(ids, func(id string) bool { return len(id) > 4 }) // k-0..k-4, then k-1NN
			if retained != tc.want {
				t.Fatalf("retained records read: %v, want %d before the first marker", ids, tc.want)
			}
			for i, id := range ids[:tc.want] {
				if w := fmt.Sprintf("k-%d", 5-tc.want+i); id != w {
					t.Fatalf("record %d is %s, want %s (the newest %d in order)", i, id, w, tc.want)
				}
			}
		})
	}
}
