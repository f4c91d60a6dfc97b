package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

// On the Kafka journal (kfake peer), what harrierctl uses works as on the
// local one: refused alerts land in the dead-letter topic, DeadLetters
// lists and replays them, and a subscription replays from a time.
func TestKafkaJournalDeadLettersAndSubscription(t *testing.T) {
	kc := kafkapeer.Start(t, 4, nil)
	s := newSink(t)
	s.setStatus(400) // refused permanently: dead letters
	e := start(t, fmt.Sprintf(`journal: {backend: kafka, kafka: {brokers: [%q], partitions: 4, replication_factor: 1}}
delivery: {backoff: {initial: 20ms, max: 100ms}}
outputs: {webhook: {soc: {address: %s}}}
`, kc.Addr(), s.srv.URL))
	if e.r.Journal() != nil {
		t.Fatal("a local journal was opened with backend kafka")
	}
	since := time.Now().Add(-time.Second)
	var alerts []*harrierv1.Alert
	for i := range 10 {
		alerts = append(alerts, mkAlert(i, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"))
	}
	acks := sendBatches(t, withToken(context.Background(), sensorToken), e.dial(t, true), alerts)
	if acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("ack %v", acks[0])
	}
	ctx := withToken(context.Background(), clientToken)
	dl := harrierv1.NewDeadLettersClient(e.dial(t, true))
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := dl.List(ctx, &harrierv1.ListDeadLettersRequest{Output: "webhook.soc"})
		if err == nil && l.GetTotal() == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %v %v", l, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.setStatus(0)
	rep, err := dl.Replay(ctx, &harrierv1.ReplayDeadLettersRequest{Output: "webhook.soc"})
	if err != nil || rep.GetReplayed() != 10 || rep.GetFailed() != 0 || s.count() != 10 {
		t.Fatalf("replay: %v %v; webhook has %d", rep, err, s.count())
	}
	if l, err := dl.List(ctx, &harrierv1.ListDeadLettersRequest{}); err != nil || l.GetTotal() != 0 {
		t.Fatalf("after replay: %v %v", l, err)
	}

	// The output's queue depth is its group's lag in Kafka: 0 once replayed
	// and caught up.
	for _, h := range e.r.pipe.Health() {
		if h.Name == "webhook.soc" && h.QueueDepth > 10 {
			t.Errorf("queue depth %d", h.QueueDepth)
		}
	}

	sub, err := harrierv1.NewSubscriptionClient(e.dial(t, true)).Subscribe(ctx,
		&harrierv1.SubscribeRequest{ReplaySince: timestamppb.New(since)})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 10 {
		m, err := sub.Recv()
		if err != nil {
			t.Fatalf("after %d: %v", len(seen), err)
		}
		seen[m.GetAlert().GetId()] = true
	}
}
