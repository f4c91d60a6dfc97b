package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
)

// BenchmarkIngestConsoleIndex measures gRPC ingest (4 sensors, batches of
// 500, alerts/s acknowledged) with the console's index off and on, in
// alternating rounds in one run, and reports on/off: the index reads the
// journal on its own, so ingest should not notice it.
func BenchmarkIngestConsoleIndex(b *testing.B) {
	const perRound = 200_000
	// A first, untimed round warms the process (heap, page cache) so the
	// first timed round is not the only cold one.
	ingestRound(b, false, perRound)
	var off, on time.Duration
	for i := 0; b.Loop(); i++ {
		for _, enabled := range []bool{i%2 == 0, i%2 != 0} {
			d := ingestRound(b, enabled, perRound)
			if enabled {
				on += d
			} else {
				off += d
			}
		}
	}
	rOff, rOn := float64(perRound*b.N)/off.Seconds(), float64(perRound*b.N)/on.Seconds()
	b.ReportMetric(rOff, "off-alerts/s")
	b.ReportMetric(rOn, "on-alerts/s")
	b.ReportMetric(rOn/rOff, "on/off")
	b.ReportMetric(0, "ns/op")
}

func ingestRound(b *testing.B, console bool, n int) time.Duration {
	b.Helper()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer sink.Close()
	r, stop := startBenchRouter(b, fmt.Sprintf(`console: {enabled: %v}
outputs: {webhook: {bench: {address: %s, format: ndjson, batch_size: 2000}}}
`, console, sink.URL))
	defer stop()
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	const sensors, batch = 4, 500
	now := timestamppb.Now()
	batches := make([][]*harrierv1.Alert, n/sensors/batch)
	for i := range batches {
		for k := 0; k < batch; k++ {
			batches[i] = append(batches[i], &harrierv1.Alert{Id: fmt.Sprintf("%d-%d", i, k), Time: now, Rule: fmt.Sprintf("Rule %d", k%40),
				Priority: harrierv1.Priority(1 + k%8), Source: "syscall", Output: "Shell spawned in a container (user=root shell=bash)",
				Hostname: "node-1", OutputFields: map[string]*harrierv1.FieldValue{"k8s.ns.name": {Kind: &harrierv1.FieldValue_StringValue{StringValue: fmt.Sprintf("ns-%d", k%30)}}}})
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for s := 0; s < sensors; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := harrierv1.NewIngestClient(conn).Stream(context.Background())
			if err != nil {
				b.Error(err)
				return
			}
			go func() {
				for i, bt := range batches {
					st.Send(&harrierv1.AlertBatch{Sequence: uint64(i + 1), Alerts: bt, SensorId: fmt.Sprintf("s%d", s)})
				}
				st.CloseSend()
			}()
			for range batches {
				if _, err := st.Recv(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if console {
		b.Logf("ingest took %v; the index held %d of %d alerts then", d, r.ConsoleIndex().Len(), n)
		// The index must keep up, just not on ingest's clock (it catches
		// up after the burst; on a loaded 2-core box that takes a while).
		deadline := time.Now().Add(5 * time.Minute)
		for r.ConsoleIndex().Len() < len(batches)*batch*sensors && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := r.ConsoleIndex().Len(); got != len(batches)*batch*sensors {
			b.Fatalf("index holds %d of %d", got, len(batches)*batch*sensors)
		}
	}
	return d
}
