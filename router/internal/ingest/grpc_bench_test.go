package ingest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/batchwire"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/journal"
)

// BenchmarkGRPCIngest measures the sensor -> router path end to end over
// loopback: a load generator in a child process (so the router's CPU and
// allocations are measured alone) sends batches framed as the sensor's
// transport frames them (proto/batchwire around spooled alert bytes, its
// default 500 alerts a batch and 8 batches in flight, one connection per
// sensor) to the Ingest service, which acknowledges each batch once the
// journal has it written (grpc.ack: written, the default) or fsynced.
//
// One op is one alert. Reported: alerts/s and p50/p99 batch ack latency
// as the sensors saw them, router CPU per alert (user+system time of this
// process, which holds only the router), and allocs/op of the router.
func BenchmarkGRPCIngest(b *testing.B) {
	for _, ack := range []journal.Ack{journal.AckWritten, journal.AckFsync} {
		for _, streams := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("ack=%s/streams=%d", ack, streams), func(b *testing.B) { benchGRPC(b, streams, ack) })
		}
	}
}

func benchGRPC(b *testing.B, streams int, ack journal.Ack) {
	j, err := journal.Open(b.TempDir(), journal.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	srv := grpc.NewServer(grpc.ForceServerCodecV2(Codec()))
	Register(srv, NewStream(j, NewMetrics(prometheus.NewRegistry()), slog.New(slog.DiscardHandler)).WithAck(ack))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()

	n := max(b.N, streams)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGRPCLoadGenerator$", "-test.count=1")
	cmd.Env = append(os.Environ(), "HARRIER_INGEST_LOADGEN="+fmt.Sprintf("%s,%d,%d", ln.Addr(), streams, n))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	before := cpuTime()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var result string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "loadgen: "); ok {
			result = r
		}
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("load generator: %v", err)
	}
	cpu := cpuTime() - before
	b.StopTimer()
	var rate, p50, p99 float64
	if _, err := fmt.Sscanf(result, "%g %g %g", &rate, &p50, &p99); err != nil {
		b.Fatalf("load generator said %q: %v", result, err)
	}
	// Written is acknowledged before the fsync; Close syncs what is left.
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	if got := j.Next() - 1; got != uint64(n) {
		b.Fatalf("journal holds %d alerts, want %d", got, n)
	}
	b.ReportMetric(rate, "alerts/s")
	b.ReportMetric(p50, "p50-ack-ms")
	b.ReportMetric(p99, "p99-ack-ms")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "router-cpu-ns/alert")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGRPCLoadGenerator is BenchmarkGRPCIngest's child process; it does
// nothing in an ordinary test run.
func TestGRPCLoadGenerator(t *testing.T) {
	spec := os.Getenv("HARRIER_INGEST_LOADGEN")
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	streams, _ := strconv.Atoi(parts[1])
	total, _ := strconv.Atoi(parts[2])
	rate, lat, err := loadGRPC(parts[0], streams, total, 500, 8)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	fmt.Printf("loadgen: %g %g %g\n", rate, pct(0.50), pct(0.99))
}

// benchAlert is a typical sensor alert, encoded as the sensor spools it.
func benchAlert(t testing.TB) []byte {
	a := &harrierv1.Alert{
		Id: "0193a4f2-7c1e-7a55-9d0e-3f1c2b4a5d6e", Time: timestamppb.Now(), Rule: "Terminal shell in container",
		Priority: harrierv1.Priority_PRIORITY_NOTICE, Source: "syscall", Hostname: "node-1", SensorId: "node-1",
		Output: "A shell was spawned in a container with an attached terminal (user=root user_loginuid=-1 k8s.ns=default k8s.pod=web-7d9 container=3f1c2b4a5d6e shell=bash parent=runc cmdline=bash terminal=34816 container_id=3f1c2b4a5d6e image=nginx)",
		Tags:   []string{"container", "shell", "mitre_execution", "T1059"},
		OutputFields: map[string]*harrierv1.FieldValue{
			"proc.name":         {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
			"proc.cmdline":      {Kind: &harrierv1.FieldValue_StringValue{StringValue: "bash"}},
			"proc.pname":        {Kind: &harrierv1.FieldValue_StringValue{StringValue: "runc"}},
			"user.name":         {Kind: &harrierv1.FieldValue_StringValue{StringValue: "root"}},
			"container.id":      {Kind: &harrierv1.FieldValue_StringValue{StringValue: "3f1c2b4a5d6e"}},
			"container.image":   {Kind: &harrierv1.FieldValue_StringValue{StringValue: "nginx"}},
			"k8s.pod.name":      {Kind: &harrierv1.FieldValue_StringValue{StringValue: "web-7d9"}},
			"evt.time":          {Kind: &harrierv1.FieldValue_UintValue{UintValue: 1764000000000000000}},
			"proc.tty":          {Kind: &harrierv1.FieldValue_UintValue{UintValue: 34816}},
			"user.loginuid":     {Kind: &harrierv1.FieldValue_IntValue{IntValue: -1}},
			"k8s.ns.name":       {Kind: &harrierv1.FieldValue_StringValue{StringValue: "default"}},
			"container.name":    {Kind: &harrierv1.FieldValue_StringValue{StringValue: "web"}},
			"proc.exepath":      {Kind: &harrierv1.FieldValue_StringValue{StringValue: "/usr/bin/bash"}},
			"evt.type":          {Kind: &harrierv1.FieldValue_StringValue{StringValue: "execve"}},
			"proc.pid":          {Kind: &harrierv1.FieldValue_UintValue{UintValue: 4242}},
			"container.imagetg": {Kind: &harrierv1.FieldValue_StringValue{StringValue: "1.27"}},
		},
	}
	enc, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// loadGRPC sends total alerts over streams connections, batch alerts a
// batch and window batches in flight each, and returns the alerts/s and
// every batch's ack latency.
func loadGRPC(addr string, streams, total, batch, window int) (float64, []time.Duration, error) {
	alert := benchAlert(&testing.T{})
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
	)
	start := time.Now()
	for s := range streams {
		n := total / streams
		if s < total%streams {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := loadStream(addr, n, batch, window, func(int) []byte { return alert }, fmt.Sprintf("sensor-%d", s))
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, l...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return 0, nil, errs[0]
	}
	return float64(total) / time.Since(start).Seconds(), lat, nil
}

// loadStream sends n alerts (alert(k) is the k-th) on one stream.
func loadStream(addr string, n, batch, window int, alert func(k int) []byte, sensor string) ([]time.Duration, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := conn.NewStream(ctx, &harrierv1.Ingest_ServiceDesc.Streams[0], harrierv1.Ingest_Stream_FullMethodName,
		grpc.ForceCodecV2(loadCodec{}))
	if err != nil {
		return nil, err
	}
	batches := (n + batch - 1) / batch
	sent := make([]time.Time, batches+1)
	slots := make(chan struct{}, window)
	lat := make([]time.Duration, 0, batches)
	recvErr := make(chan error, 1)
	go func() {
		for range batches {
			ack := new(harrierv1.BatchAck)
			if err := stream.RecvMsg(ack); err != nil {
				recvErr <- err
				return
			}
			if ack.Status != harrierv1.AckStatus_ACK_STATUS_OK {
				recvErr <- fmt.Errorf("batch %d: %v %s", ack.Sequence, ack.Status, ack.Reason)
				return
			}
			lat = append(lat, time.Since(sent[ack.Sequence]))
			<-slots
		}
		recvErr <- nil
	}()
	for seq := 1; seq <= batches; seq++ {
		k := min(batch, n-(seq-1)*batch)
		buf := batchwire.AppendSequence(nil, uint64(seq))
		for i := range k {
			buf = batchwire.AppendAlert(buf, alert((seq-1)*batch+i))
		}
		buf = batchwire.AppendSensorID(buf, sensor)
		select {
		case slots <- struct{}{}:
		case err := <-recvErr:
			return nil, fmt.Errorf("stream ended early: %v", err)
		}
		sent[seq] = time.Now()
		if err := stream.SendMsg(wireBatch(buf)); err != nil {
			return nil, err
		}
	}
	if err := <-recvErr; err != nil {
		return nil, err
	}
	_ = stream.CloseSend()
	if err := stream.RecvMsg(new(harrierv1.BatchAck)); err != io.EOF {
		return nil, fmt.Errorf("stream end: %v", err)
	}
	return lat, nil
}

// wireBatch is an encoded AlertBatch, sent as is (the sensor's wireCodec).
type wireBatch []byte

type loadCodec struct{}

func (loadCodec) Name() string { return "proto" }

func (loadCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(wireBatch); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return nil, fmt.Errorf("loadgen: cannot encode %T", v)
}

func (loadCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

// Batches pipelined on several streams reuse each other's receive buffers
// once acknowledged: every stored record must still be the alert sent.
func TestGRPCStoresEveryAlertIntact(t *testing.T) {
	j, err := journal.Open(t.TempDir(), journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	srv := grpc.NewServer(grpc.ForceServerCodecV2(Codec()))
	Register(srv, NewStream(j, nil, slog.New(slog.DiscardHandler)).WithAck(journal.AckWritten))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Stop()

	const streams, perStream = 4, 1000
	want := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			alert := func(k int) []byte {
				// Sizes vary so that a reused buffer holds stale bytes
				// beyond a shorter message.
				a := &harrierv1.Alert{Id: fmt.Sprintf("s%d-%d", s, k), Rule: "r", Output: strings.Repeat("x", k%97)}
				b, _ := proto.Marshal(a)
				mu.Lock()
				want[a.Id] = true
				mu.Unlock()
				return b
			}
			if _, err := loadStream(ln.Addr().String(), perStream, 50+s*17, 8, alert, fmt.Sprintf("sensor-%d", s)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r := j.NewReader(1)
	defer r.Close()
	for range streams * perStream {
		e, ok, err := r.TryNext()
		if err != nil || !ok {
			t.Fatalf("journal ends early: %v", err)
		}
		var a harrierv1.Alert
		if err := proto.Unmarshal(e.Data, &a); err != nil {
			t.Fatalf("record %d: %v", e.Seq, err)
		}
		var s, k int
		fmt.Sscanf(a.Id, "s%d-%d", &s, &k)
		if !want[a.Id] || a.Output != strings.Repeat("x", k%97) || a.SensorId != fmt.Sprintf("sensor-%d", s) {
			t.Fatalf("record %d is not an alert sent: %v", e.Seq, &a)
		}
		delete(want, a.Id)
	}
	if len(want) != 0 {
		t.Fatalf("%d alerts missing", len(want))
	}
}
