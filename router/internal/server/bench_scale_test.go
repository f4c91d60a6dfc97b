package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
)

// BenchmarkJournalBackend compares one router on the local journal with
// one on Kafka (kfake in this process, so its CPU is counted in
// alerts/cpu-s), then 2 and 3 replicas on the same broker sharing the
// webhook output's consumer group. Four sensor streams spread over the
// replicas; the run ends when the webhook has every alert.
func BenchmarkJournalBackend(b *testing.B) {
	b.Run("local", func(b *testing.B) { benchBackend(b, false, 1) })
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("kafka/replicas=%d", n), func(b *testing.B) { benchBackend(b, true, n) })
	}
}

func benchBackend(b *testing.B, kafka bool, replicas int) {
	const sensors, window, batchSize = 4, 8, 500
	total := max(int64(b.N), sensors*batchSize)
	batches := (total/sensors + batchSize - 1) / batchSize
	sink := newLatencySink(batches * batchSize * sensors)
	defer sink.srv.Close()
	journalYAML := ""
	if kafka {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		defer kc.Close()
		journalYAML = fmt.Sprintf("journal: {backend: kafka, kafka: {brokers: [%q], partitions: 12, replication_factor: 1, session_timeout: 6s}}\n", kc.ListenAddrs()[0])
	}
	var rs []*Router
	for i := 0; i < replicas; i++ {
		dir := b.TempDir()
		p := filepath.Join(dir, "router.yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`
data_dir: %s
grpc: {address: 127.0.0.1:0}
http: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}
log: {level: error}
%soutputs:
  webhook:
    bench: {address: %s, format: ndjson, batch_size: 2000}
`, dir, journalYAML, sink.srv.URL)), 0o600)
		cfg, err := config.Load(p)
		if err != nil {
			b.Fatal(err)
		}
		r, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r.Shutdown(ctx)
			cancel()
		}()
		rs = append(rs, r)
	}
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for s := 0; s < sensors; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			conn, err := grpc.NewClient(rs[s%len(rs)].GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
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
			id := 0
			for seq := int64(1); seq <= batches; seq++ {
				slots <- struct{}{}
				batch := make([]*harrierv1.Alert, batchSize)
				now := timestamppb.Now()
				for i := range batch {
					id++
					batch[i] = &harrierv1.Alert{Id: fmt.Sprintf("s%d-%09d", s, id), Time: now, Rule: "Terminal shell in container",
						Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: fmt.Sprintf("node-%d", s),
						Output: "A shell was spawned in a container with an attached terminal (user=root shell=bash parent=runc)",
						Tags:   []string{"container", "shell"}, SensorId: fmt.Sprintf("node-%d", s)}
				}
				if err := stream.Send(&harrierv1.AlertBatch{Sequence: uint64(seq), Alerts: batch, SensorId: fmt.Sprintf("node-%d", s)}); err != nil {
					b.Error(err)
					return
				}
			}
			<-acksDone
			stream.CloseSend()
		}(s)
	}
	wg.Wait()
	ingested := time.Since(start)
	select {
	case <-sink.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("webhook received %d of %d", sink.n.Load(), sink.total)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	b.StopTimer()
	b.ReportMetric(float64(sink.total)/ingested.Seconds(), "ingested/s")
	b.ReportMetric(float64(sink.n.Load())/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(sink.n.Load())/cpu.Seconds(), "alerts/cpu-s")
	b.ReportMetric(0, "ns/op")
}
