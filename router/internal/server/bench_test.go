package server

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/structpb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// latencySink is a webhook receiver cheap enough not to be the bottleneck:
// it reads the "time" field of each Falco JSON line (set by the sensor at
// send time) to measure sensor-to-webhook latency.
type latencySink struct {
	srv   *httptest.Server
	n     atomic.Int64
	mu    sync.Mutex
	lat   []time.Duration
	total int64
	done  chan struct{}
	once  sync.Once
}

var timeKey = []byte(`"time":"`)

func newLatencySink(total int64) *latencySink {
	s := &latencySink{total: total, done: make(chan struct{}), lat: make([]time.Duration, 0, total)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var lats []time.Duration
		for sc.Scan() {
			line := sc.Bytes()
			i := bytes.Index(line, timeKey)
			if i < 0 {
				continue
			}
			rest := line[i+len(timeKey):]
			j := bytes.IndexByte(rest, '"')
			if ts, err := time.Parse(time.RFC3339Nano, string(rest[:j])); err == nil {
				lats = append(lats, now.Sub(ts))
			}
		}
		s.mu.Lock()
		s.lat = append(s.lat, lats...)
		s.mu.Unlock()
		if s.n.Add(int64(len(lats))) >= s.total {
			s.once.Do(func() { close(s.done) })
		}
	}))
	return s
}

func (s *latencySink) percentile(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lat) == 0 {
		return 0
	}
	sort.Slice(s.lat, func(a, b int) bool { return s.lat[a] < s.lat[b] })
	return s.lat[int(float64(len(s.lat)-1)*p)]
}

// BenchmarkIngestToWebhook measures alerts/s from several concurrent gRPC
// sensors (pipelined batches, like the sensor's transport) through the
// router with the journal fsyncing every group commit, to an NDJSON webhook,
// and the latency from the sensor's send to the webhook's receipt. One op is
// one alert. "max" offers as much as the router takes (its latency is
// queueing); "rate=N" offers N alerts/s in 100 ms steps, the sustained-load
// latency.
func BenchmarkIngestToWebhook(b *testing.B) {
	b.Run("max", func(b *testing.B) { benchIngestToWebhook(b, 0, false) })
	for _, rate := range []int{10000, 20000, 50000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchIngestToWebhook(b, rate, false) })
	}
}

// BenchmarkIngestToWebhookAndKafka is BenchmarkIngestToWebhook with a
// second output, Kafka (kfake in process, acks=all, 4 partitions, lz4):
// every alert goes to both; the run ends when both have everything. The
// Kafka latency is the router's own histogram (stored → acknowledged by the
// broker), interpolated within its buckets.
func BenchmarkIngestToWebhookAndKafka(b *testing.B) {
	b.Run("max", func(b *testing.B) { benchIngestToWebhook(b, 0, true) })
	b.Run("rate=20000", func(b *testing.B) { benchIngestToWebhook(b, 20000, true) })
}

// histQuantile estimates quantile q of a histogram series with the
// given output label by linear interpolation within buckets.
func histQuantile(reg *prometheus.Registry, name, out string, q float64) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := false
			for _, l := range m.GetLabel() {
				if l.GetName() == "output" && l.GetValue() == out {
					match = true
				}
			}
			if !match {
				continue
			}
			h := m.GetHistogram()
			rank := q * float64(h.GetSampleCount())
			prevBound, prevCount := 0.0, 0.0
			for _, bk := range h.GetBucket() {
				c := float64(bk.GetCumulativeCount())
				if c >= rank {
					if c == prevCount {
						return bk.GetUpperBound()
					}
					return prevBound + (bk.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
				}
				prevBound, prevCount = bk.GetUpperBound(), c
			}
			return prevBound
		}
	}
	return -1
}

func benchIngestToWebhook(b *testing.B, rate int, withKafka bool) {
	const sensors, window = 4, 8
	batchSize := 500
	var interval time.Duration
	if rate > 0 {
		// Each sensor sends one batch per 100 ms tick.
		batchSize = max(1, rate/sensors/10)
		interval = 100 * time.Millisecond
	}
	total := int64(b.N)
	if total < int64(batchSize*sensors) {
		total = int64(batchSize * sensors)
	}
	sink := newLatencySink(total)
	defer sink.srv.Close()
	kafkaYAML := ""
	if withKafka {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer kc.Close()
		kafkaYAML = fmt.Sprintf("  kafka:\n    bench: {hostport: %q, topic: bench, compression: lz4, batch_size: 2000}\n", kc.ListenAddrs()[0])
	}
	r, stop := startBenchRouter(b, fmt.Sprintf(`outputs:
  webhook:
    bench: {address: %s, format: ndjson, batch_size: 2000}
%s`, sink.srv.URL, kafkaYAML))
	defer stop()
	// A representative alert: a shell-in-container rule with a dozen fields.
	fields := map[string]*harrierv1.FieldValue{}
	for _, k := range []string{"proc.name", "proc.cmdline", "proc.pname", "user.name", "container.id", "container.image.repository",
		"k8s.ns.name", "k8s.pod.name", "fd.name", "evt.type"} {
		fields[k] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_StringValue{StringValue: "value-of-" + k}}
	}
	fields["proc.pid"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_IntValue{IntValue: 4242}}
	fields["proc.tty"] = &harrierv1.FieldValue{Kind: &harrierv1.FieldValue_NullValue{NullValue: structpb.NullValue_NULL_VALUE}}

	perSensor := (total + sensors - 1) / sensors
	batches := (perSensor + int64(batchSize) - 1) / int64(batchSize)
	sink.total = batches * int64(batchSize) * sensors
	b.ResetTimer()
	start, cpuStart := time.Now(), cpuTime()
	ids := make([]int, sensors)
	pipelinedSensors(b, sensors, window, batches, interval, func(int) string { return r.GRPCAddr() },
		func(s int) *harrierv1.AlertBatch {
			batch := shellBatch(s, &ids[s], batchSize, fields, "container", "shell", "mitre_execution")
			return &harrierv1.AlertBatch{Alerts: batch}
		})
	sent := sink.total
	select {
	case <-sink.done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("webhook received %d of %d", sink.n.Load(), sent)
	}
	if withKafka {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var pos uint64
			for _, h := range r.pipe.Health() {
				if h.Name == "kafka.bench" {
					pos = h.Position
				}
			}
			if pos >= r.j.Next() {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("kafka at %d of %d", pos, r.j.Next())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpuStart
	b.StopTimer()
	b.ReportMetric(float64(sink.n.Load())/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(sink.percentile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(sink.percentile(0.99).Microseconds())/1000, "p99-ms")
	if withKafka {
		b.ReportMetric(histQuantile(r.reg, "harrier_router_output_delivery_latency_seconds", "kafka.bench", 0.99)*1000, "kafka-p99-ms")
	}
	// CPU seconds of the whole process (router, sensors and sink): on a
	// shared machine, alerts per CPU-second is the figure that does not
	// depend on what else runs.
	b.ReportMetric(float64(sink.n.Load())/cpu.Seconds(), "alerts/cpu-s")
	b.ReportMetric(0, "ns/op")
}
