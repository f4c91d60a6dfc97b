package subscription

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/alertfilter"
	"github.com/harrier-security/harrier/router/internal/journal"
)

func TestReplaySelectsTheLastMatchingWithinBounds(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var recs [][]byte
	for i := 0; i < 50; i++ {
		rule := "even"
		if i%2 == 1 {
			rule = "odd"
		}
		b, _ := proto.Marshal(&harrierv1.Alert{Id: fmt.Sprint(i), Rule: rule})
		recs = append(recs, b)
	}
	if _, err := j.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	h := NewHub(j, Options{MaxReplay: 20})
	odd := alertfilter.New(&harrierv1.AlertFilter{Rules: []string{"odd"}})
	got := h.replay(&harrierv1.SubscribeRequest{ReplayLast: 3}, odd, j.Next())
	if len(got) != 3 || got[0].Id != "45" || got[2].Id != "49" {
		t.Fatalf("last 3 odd: %v", got)
	}
	// Only the last MaxReplay (20) stored records are scanned: 10 odd ones.
	got = h.replay(&harrierv1.SubscribeRequest{ReplayLast: 100}, odd, j.Next())
	if len(got) != 10 || got[0].Id != "31" {
		t.Fatalf("bounded scan: %d alerts, first %v", len(got), got[0].Id)
	}
	// The replay stops at the live stream's start.
	got = h.replay(&harrierv1.SubscribeRequest{ReplayLast: 2}, nil, 11)
	if len(got) != 2 || got[1].Id != "9" {
		t.Fatalf("end bound: %v", got)
	}
	// replay_since in the future: nothing.
	got = h.replay(&harrierv1.SubscribeRequest{ReplaySince: timestamppb.New(time.Now().Add(time.Hour))}, nil, j.Next())
	if len(got) != 0 {
		t.Fatalf("since future: %d", len(got))
	}
	got = h.replay(&harrierv1.SubscribeRequest{ReplaySince: timestamppb.New(time.Now().Add(-time.Hour))}, nil, j.Next())
	if len(got) != 20 {
		t.Fatalf("since an hour ago (bounded to 20): %d", len(got))
	}
}

func TestPublishCountsMissesForAFullSubscriber(t *testing.T) {
	j, _ := journal.Open(t.TempDir(), journal.Options{})
	defer j.Close()
	h := NewHub(j, Options{Buffer: 2})
	s := &subscriber{filter: alertfilter.New(nil), ch: make(chan *harrierv1.Alert, 2), wake: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	b, _ := proto.Marshal(&harrierv1.Alert{Id: "x", Rule: "r"})
	for i := uint64(1); i <= 5; i++ {
		h.publish(journal.Entry{Seq: i, Data: b})
	}
	if len(s.ch) != 2 || s.missed.Load() != 3 || len(s.wake) != 1 {
		t.Fatalf("queued %d, missed %d, woken %d", len(s.ch), s.missed.Load(), len(s.wake))
	}
}
