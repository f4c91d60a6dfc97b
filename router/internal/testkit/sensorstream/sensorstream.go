// Package sensorstream streams alert batches to a router's Ingest gRPC
// service as a sensor does, for the router's end-to-end and fault tests: a
// batch is forgotten only once acknowledged OK, and after an error it is
// resent on a new stream. It records the ids of every acknowledged alert,
// which are the alerts a test may then require at the outputs.
package sensorstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// Sensor is one simulated sensor; set its fields before Run or Send and do
// not change them while either runs.
type Sensor struct {
	// Addr is the router's gRPC address, dialled anew for every stream.
	Addr string
	// Conn, when set, carries every stream instead of Addr (for example a
	// connection balanced over several replicas); the caller closes it.
	Conn *grpc.ClientConn
	// ID is the batches' sensor id and the alerts' hostname ("node-1" when
	// empty).
	ID string
	// Prefix starts every alert id ("<Prefix>-0000001"; ID when empty).
	Prefix string
	// Output is the alerts' output text ("shell spawned" when empty).
	Output string
	// Edit, when set, changes each new batch before it is first sent.
	Edit func([]*harrierv1.Alert)

	mu    sync.Mutex
	acked []string
	next  int
	retry int
}

// Acked is the ids of the alerts acknowledged OK so far, in order.
func (s *Sensor) Acked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}

// Retries is how many batches were answered RETRY.
func (s *Sensor) Retries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retry
}

func (s *Sensor) id() string {
	if s.ID == "" {
		return "node-1"
	}
	return s.ID
}

func (s *Sensor) batch(n int) []*harrierv1.Alert {
	prefix, output := s.Prefix, s.Output
	if prefix == "" {
		prefix = s.id()
	}
	if output == "" {
		output = "shell spawned"
	}
	out := make([]*harrierv1.Alert, n)
	for i := range out {
		s.next++
		out[i] = &harrierv1.Alert{Id: fmt.Sprintf("%s-%07d", prefix, s.next), Rule: "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: s.id(),
			Output: output, Time: timestamppb.Now(), Tags: []string{"shell"}}
	}
	if s.Edit != nil {
		s.Edit(out)
	}
	return out
}

// Run streams batches of n alerts, pausing between batches, until ctx ends
// or batches were acknowledged (0: no limit). Errors end the stream, not
// the run: it reconnects after a short pause. The batch pending when ctx
// ends stays unacknowledged.
func (s *Sensor) Run(ctx context.Context, n, batches int, pause time.Duration) {
	var pending []*harrierv1.Alert
	done := 0
	more := func() bool { return ctx.Err() == nil && (batches == 0 || done < batches) }
	for more() {
		conn := s.Conn
		if conn == nil {
			c, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return
			}
			conn = c
		}
		stream, err := harrierv1.NewIngestClient(conn).Stream(ctx)
		for seq := uint64(1); err == nil && more(); seq++ {
			if pending == nil {
				pending = s.batch(n)
			}
			if err = stream.Send(&harrierv1.AlertBatch{Sequence: seq, Alerts: pending, SensorId: s.id()}); err != nil {
				break
			}
			var ack *harrierv1.BatchAck
			if ack, err = stream.Recv(); err != nil {
				break
			}
			switch ack.GetStatus() {
			case harrierv1.AckStatus_ACK_STATUS_OK:
				s.mu.Lock()
				for _, a := range pending {
					s.acked = append(s.acked, a.Id)
				}
				s.mu.Unlock()
				pending = nil
				done++
			case harrierv1.AckStatus_ACK_STATUS_RETRY:
				s.mu.Lock()
				s.retry++
				s.mu.Unlock()
				sleep(ctx, 20*time.Millisecond)
			}
			sleep(ctx, pause)
		}
		if conn != s.Conn {
			conn.Close()
		}
		if more() {
			sleep(ctx, 50*time.Millisecond)
		}
	}
}

// Start runs Run (no batch limit) in the background; stop ends it and
// returns once it has returned. Stop may be called again; the test's end
// calls it too.
func (s *Sensor) Start(t testing.TB, n int, pause time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, n, 0, pause) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// Send streams batches of n alerts and returns once all are acknowledged,
// failing the test after 30s.
func (s *Sensor) Send(t testing.TB, batches, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := len(s.Acked())
	s.Run(ctx, n, batches, 0)
	if got := len(s.Acked()) - before; got != batches*n {
		t.Fatalf("%d of %d alerts acknowledged", got, batches*n)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
