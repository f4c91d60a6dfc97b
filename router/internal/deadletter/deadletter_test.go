package deadletter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	if err := s.Add(context.Background(), "webhook.a", []*harrierv1.DeadLetter{letter("webhook.a", "1"), letter("webhook.a", "2")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), "file", []*harrierv1.DeadLetter{letter("file", "3")}); err != nil {
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
	if c := s.Counts(); c["webhook.a"] != 1 || c["file"] != 1 {
		t.Fatalf("counts %v", c)
	}
	s.Replay("webhook.a", func([]*harrierv1.DeadLetter) []*harrierv1.DeadLetter { return nil })
	if s2, _ := Open(s.dir); s2.Counts()["file"] != 1 || s2.Counts()["webhook.a"] != 0 {
		t.Fatalf("counts after reopen %v", s2.Counts())
	}
	if outs, _ := s.Outputs(); len(outs) != 1 || outs[0] != "file" {
		t.Fatalf("outputs %v", outs)
	}
}

func TestAddFailsVisiblyAndHonoursContext(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Add(ctx, "a", []*harrierv1.DeadLetter{letter("a", "1")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with a cancelled context: %v", err)
	}
	// A store that cannot write (the file is a directory) says so.
	if err := os.Mkdir(filepath.Join(dir, "b"+suffix), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), "b", []*harrierv1.DeadLetter{letter("b", "1")}); err == nil || !strings.Contains(err.Error(), "dead letters") {
		t.Fatalf("Add to a broken file: %v", err)
	}
	if c := s.Counts(); c["a"] != 0 || c["b"] != 0 {
		t.Fatalf("counts after failed adds: %v", c)
	}
}
