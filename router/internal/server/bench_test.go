package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
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

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

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
	dir := b.TempDir()
	p := filepath.Join(dir, "router.yaml")
	kafkaYAML := ""
	if withKafka {
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer kc.Close()
		kafkaYAML = fmt.Sprintf("  kafka:\n    bench: {hostport: %q, topic: bench, compression: lz4, batch_size: 2000}\n", kc.ListenAddrs()[0])
	}
	os.WriteFile(p, []byte(fmt.Sprintf(`
data_dir: %s
grpc: {address: 127.0.0.1:0}
http: {address: 127.0.0.1:0, metrics_address: 127.0.0.1:0}
log: {level: error}
outputs:
  webhook:
    bench: {address: %s, format: ndjson, batch_size: 2000}
%s`, dir, sink.srv.URL, kafkaYAML)), 0o600)
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
	var wg sync.WaitGroup
	for s := 0; s < sensors; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
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
				batch := make([]*harrierv1.Alert, batchSize)
				now := timestamppb.Now()
				for i := range batch {
					id++
					batch[i] = &harrierv1.Alert{Id: fmt.Sprintf("s%d-%09d", s, id), Time: now, Rule: "Terminal shell in container",
						Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: fmt.Sprintf("node-%d", s),
						Output:       "A shell was spawned in a container with an attached terminal (user=root shell=bash parent=runc)",
						OutputFields: fields, Tags: []string{"container", "shell", "mitre_execution"}, SensorId: fmt.Sprintf("node-%d", s)}
				}
				if err := stream.Send(&harrierv1.AlertBatch{Sequence: uint64(seq), Alerts: batch}); err != nil {
					b.Error(err)
					return
				}
			}
			<-acksDone
			stream.CloseSend()
		}(s)
	}
	wg.Wait()
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
