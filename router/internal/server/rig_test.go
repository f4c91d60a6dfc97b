package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
)

// The rig the router tests and benchmarks share: a router in this process
// on loopback ports, and sensors streaming pipelined batches to it.

// startConfig starts a router on cfg. stop shuts it down (10s at most);
// the test's end calls it too, so a caller needs it only to shut down
// earlier (benchmarks, before their peers close).
func startConfig(t testing.TB, cfg *config.Config, log *slog.Logger) (r *Router, stop func()) {
	t.Helper()
	r, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r.Shutdown(ctx)
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// cpuTime is the CPU time (user and system) of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startBenchRouter starts a router on a fresh data directory and loopback
// ports, logging errors only; rest is more top-level YAML (outputs,
// journal, console). See startConfig for stop.
func startBenchRouter(b *testing.B, rest string) (r *Router, stop func()) {
	b.Helper()
	dir := b.TempDir()
	p := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`
data_dir: %s
grpc: {address: 127.0.0.1:0}
http: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}
log: {level: error}
%s`, dir, rest)), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		b.Fatal(err)
	}
	return startConfig(b, cfg, slog.New(slog.DiscardHandler))
}

// pipelinedSensors runs sensors concurrent gRPC streams, sensor s to
// addr(s), as the sensor's transport sends: up to window batches in flight
// unacknowledged, one batch per interval when interval > 0. Each stream
// sends batches batches, next(s) building each (its sequence is set here),
// and ends once all are acknowledged OK; any other answer fails b.
func pipelinedSensors(b *testing.B, sensors, window int, batches int64, interval time.Duration,
	addr func(s int) string, next func(s int) *harrierv1.AlertBatch) {
	var wg sync.WaitGroup
	for s := 0; s < sensors; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			conn, err := grpc.NewClient(addr(s), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			stream, err := harrierv1.NewIngestClient(conn).Stream(context.Background())
			if err != nil {
				b.Error(err)
				return
			}
			slots := make(chan struct{}, window)
			acksDone := make(chan struct{})
			go func() {
				defer close(acksDone)
				for i := int64(0); i < batches; i++ {
					ack, err := stream.Recv()
					if err != nil || ack.GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
						b.Errorf("ack: %v %v", ack, err)
						return
					}
					<-slots
				}
			}()
			var tick *time.Ticker
			if interval > 0 {
				tick = time.NewTicker(interval)
				defer tick.Stop()
			}
			for seq := int64(1); seq <= batches; seq++ {
				if tick != nil {
					<-tick.C
				}
				slots <- struct{}{}
				batch := next(s)
				batch.Sequence = uint64(seq)
				if err := stream.Send(batch); err != nil {
					b.Error(err)
					return
				}
			}
			<-acksDone
			stream.CloseSend()
		}(s)
	}
	wg.Wait()
}

// shellBatch is n alerts of a shell-in-container rule from sensor s
// ("node-<s>"), all sent now; *id numbers them.
func shellBatch(s int, id *int, n int, fields map[string]*harrierv1.FieldValue, tags ...string) []*harrierv1.Alert {
	batch := make([]*harrierv1.Alert, n)
	now := timestamppb.Now()
	node := fmt.Sprintf("node-%d", s)
	for i := range batch {
		*id++
		batch[i] = &harrierv1.Alert{Id: fmt.Sprintf("s%d-%09d", s, *id), Time: now, Rule: "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: node,
			Output:       "A shell was spawned in a container with an attached terminal (user=root shell=bash parent=runc)",
			OutputFields: fields, Tags: tags, SensorId: node}
	}
	return batch
}
