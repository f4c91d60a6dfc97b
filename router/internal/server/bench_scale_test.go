package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
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
		r, stop := startBenchRouter(b, fmt.Sprintf(`%soutputs:
  webhook:
    bench: {address: %s, format: ndjson, batch_size: 2000}
`, journalYAML, sink.srv.URL))
		defer stop()
		rs = append(rs, r)
	}
	ids := make([]int, sensors)
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	pipelinedSensors(b, sensors, window, batches, 0, func(s int) string { return rs[s%len(rs)].GRPCAddr() },
		func(s int) *harrierv1.AlertBatch {
			batch := shellBatch(s, &ids[s], batchSize, nil, "container", "shell")
			return &harrierv1.AlertBatch{Alerts: batch, SensorId: fmt.Sprintf("node-%d", s)}
		})
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
