package sensorstream

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// ingest is a real gRPC Ingest server scripted per batch: the answers it
// gives in order, after which it acknowledges OK. "drop" ends the stream
// without an answer.
type ingest struct {
	harrierv1.UnimplementedIngestServer
	mu      sync.Mutex
	script  []string
	batches []*harrierv1.AlertBatch
}

func (g *ingest) Stream(st grpc.BidiStreamingServer[harrierv1.AlertBatch, harrierv1.BatchAck]) error {
	for {
		b, err := st.Recv()
		if err != nil {
			return nil
		}
		g.mu.Lock()
		g.batches = append(g.batches, b)
		answer := "ok"
		if len(g.script) > 0 {
			answer, g.script = g.script[0], g.script[1:]
		}
		g.mu.Unlock()
		status := harrierv1.AckStatus_ACK_STATUS_OK
		switch answer {
		case "drop":
			return nil
		case "retry":
			status = harrierv1.AckStatus_ACK_STATUS_RETRY
		}
		if err := st.Send(&harrierv1.BatchAck{Sequence: b.GetSequence(), Status: status}); err != nil {
			return nil
		}
	}
}

func serve(t *testing.T, g *ingest) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	harrierv1.RegisterIngestServer(srv, g)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

func TestSend(t *testing.T) {
	for _, c := range []struct {
		name    string
		script  []string
		retries int
		sent    int // batches the server received
	}{
		{"all ok", nil, 0, 3},
		{"retry resends the batch", []string{"ok", "retry", "retry"}, 2, 5},
		{"a dropped stream resends on a new one", []string{"drop", "ok"}, 0, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := &ingest{script: c.script}
			s := &Sensor{Addr: serve(t, g), Prefix: "p", Edit: func(b []*harrierv1.Alert) { b[0].Rule = "edited" }}
			s.Send(t, 3, 2)
			if got := s.Acked(); len(got) != 6 || got[0] != "p-0000001" || got[5] != "p-0000006" {
				t.Fatalf("acked %v", got)
			}
			if s.Retries() != c.retries {
				t.Fatalf("%d retries, want %d", s.Retries(), c.retries)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if len(g.batches) != c.sent {
				t.Fatalf("server got %d batches, want %d", len(g.batches), c.sent)
			}
			for _, b := range g.batches {
				if b.GetSensorId() != "node-1" || b.GetAlerts()[0].GetRule() != "edited" || b.GetAlerts()[1].GetHostname() != "node-1" {
					t.Fatalf("batch %v", b)
				}
			}
			if c.name == "a dropped stream resends on a new one" && g.batches[1].GetSequence() != 1 {
				t.Fatalf("the new stream starts at sequence %d, want 1", g.batches[1].GetSequence())
			}
		})
	}
}

func TestRunEndsWithContext(t *testing.T) {
	g := &ingest{}
	s := &Sensor{Addr: serve(t, g), ID: "node-7", Output: "out"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	s.Run(ctx, 5, 0, time.Millisecond)
	acked := s.Acked()
	if len(acked) == 0 || len(acked)%5 != 0 || acked[0] != "node-7-0000001" {
		t.Fatalf("acked %d: %v", len(acked), acked[:min(len(acked), 3)])
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if a := g.batches[0].GetAlerts()[0]; a.GetHostname() != "node-7" || a.GetOutput() != "out" {
		t.Fatalf("alert %v", a)
	}
}
