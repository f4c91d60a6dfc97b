package deadletter

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

func letter(out, id string) *harrierv1.DeadLetter {
	return &harrierv1.DeadLetter{Output: out, Alert: &harrierv1.Alert{Id: id}, Reason: "HTTP 400", Time: timestamppb.New(time.Now())}
}

func TestAddListReplay(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("webhook.a", []*harrierv1.DeadLetter{letter("webhook.a", "1"), letter("webhook.a", "2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("file", []*harrierv1.DeadLetter{letter("file", "3")}); err != nil {
		t.Fatal(err)
	}
	ls, total, err := s.List("", 2)
	if err != nil || total != 3 || len(ls) != 2 {
		t.Fatalf("list all: %d of %d, %v", len(ls), total, err)
	}
	ls, total, _ = s.List("webhook.a", 0)
	if total != 2 || ls[1].GetAlert().GetId() != "2" || ls[0].GetReason() != "HTTP 400" {
		t.Fatalf("list webhook.a: %v", ls)
	}
	ok, failed, err := s.Replay("webhook.a", func(ls []*harrierv1.DeadLetter) []*harrierv1.DeadLetter {
		return ls[1:] // the second fails again
	})
	if err != nil || ok != 1 || failed != 1 {
		t.Fatalf("replay: %d ok %d failed %v", ok, failed, err)
	}
	ls, total, _ = s.List("webhook.a", 0)
	if total != 1 || ls[0].GetAlert().GetId() != "2" {
		t.Fatalf("after replay: %v", ls)
	}
	s.Replay("webhook.a", func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter { return nil })
	if outs, _ := s.Outputs(); len(outs) != 1 || outs[0] != "file" {
		t.Fatalf("outputs %v", outs)
	}
}
