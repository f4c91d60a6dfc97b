package transport_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/ship/spool"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/testcerts"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func alert(i int) *harrierv1.Alert {
	return &harrierv1.Alert{
		Id:       fmt.Sprintf("alert-%07d", i),
		Time:     timestamppb.Now(),
		Rule:     "Test rule",
		Priority: harrierv1.Priority_PRIORITY_WARNING,
		Source:   "syscall",
		Output:   fmt.Sprintf("something happened (n=%d)", i),
		Hostname: "node-1",
	}
}

// sensor is a spool plus a delivery client, as the daemon runs them.
type sensor struct {
	sp     *spool.Spool
	c      *transport.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startSensor(t *testing.T, dir string, cfg transport.Config) *sensor {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{MaxBytes: 64 << 20, SyncInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	c, err := transport.New(cfg, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sensor{sp: sp, c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = c.Run(ctx)
	}()
	return s
}

// stop ends delivery and closes the spool, as a sensor shutdown does.
func (s *sensor) stop(t *testing.T) {
	s.cancel()
	<-s.done
	_ = s.c.Close()
	if err := s.sp.Close(); err != nil {
		t.Fatal(err)
	}
}

func waitSpoolEmpty(t *testing.T, sp *spool.Spool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for sp.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("spool still holds %d alerts", sp.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliversInBatchesAndForgetsAcknowledged(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{})
	s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr, SensorID: "node-1", BatchSize: 100})
	defer s.stop(t)
	for i := range 2000 {
		if err := s.c.Send(alert(i)); err != nil {
			t.Fatal(err)
		}
	}
	if !store.WaitUnique(2000, 20*time.Second) {
		t.Fatalf("receiver has %d of 2000 alerts", store.Unique())
	}
	waitSpoolEmpty(t, s.sp)
	if r := store.Redelivered(); r != 0 {
		t.Fatalf("%d redeliveries on a healthy stream", r)
	}
	st := s.c.Stats()
	if st.AlertsAcked != 2000 || st.BatchesSent < 20 || !st.Connected {
		t.Fatalf("stats %+v: want 2000 acked in >= 20 batches of <= 100, connected", st)
	}
	if !store.SensorIDs()["node-1"] {
		t.Fatalf("batches did not carry the sensor id: %v", store.SensorIDs())
	}
	got := store.Alerts()
	if got[0].GetOutput() != "something happened (n=0)" || got[1999].GetId() != "alert-0001999" {
		t.Fatalf("alerts changed in transit or out of order: %v / %v", got[0], got[1999].GetId())
	}
}

// TestRouterAndSensorRestartsLoseNothing is the delivery guarantee: the
// router goes away mid-stream, the sensor keeps producing, then stops with a
// non-empty spool; the router comes back, the sensor restarts, and every
// alert arrives exactly once.
func TestRouterAndSensorRestartsLoseNothing(t *testing.T) {
	const total = 6000
	store := transporttest.NewStore()
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := rcv.Addr
	dir := t.TempDir()
	cfg := transport.Config{Addr: addr, SensorID: "node-1", BatchSize: 50, Window: 4}
	s := startSensor(t, dir, cfg)

	produce := func(from, to int, pace bool) {
		for i := from; i < to; i++ {
			if err := s.c.Send(alert(i)); err != nil {
				t.Error(err)
				return
			}
			if pace && i%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	produce(0, 2500, true)
	if !store.WaitUnique(1000, 10*time.Second) {
		t.Fatalf("nothing delivered before the outage: %d", store.Unique())
	}
	rcv.StopGracefully() // router goes away mid-stream
	produce(2500, 4000, false)
	if s.sp.Len() == 0 {
		t.Fatal("spool empty although the router is down")
	}
	s.stop(t) // sensor restarts with a non-empty spool
	before := store.Unique()
	if before >= 4000 {
		t.Fatalf("receiver got everything (%d) although it was down", before)
	}

	rcv, err = transporttest.Start(addr, store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	s = startSensor(t, dir, cfg)
	defer s.stop(t)
	produce(4000, total, false)
	if !store.WaitUnique(total, 30*time.Second) {
		t.Fatalf("receiver has %d of %d alerts", store.Unique(), total)
	}
	waitSpoolEmpty(t, s.sp)
	for i := range total {
		if !store.Has(alert(i).GetId()) {
			t.Fatalf("alert %d lost", i)
		}
	}
	if r := store.Redelivered(); r != 0 {
		t.Fatalf("%d alerts delivered twice (by id); want none", r)
	}
	t.Logf("before outage/restart: %d delivered; after: %d; redelivered %d", before, store.Unique(), store.Redelivered())
}

// TestRouterKilledMidStream: a crash of the router can lose acks in flight;
// the sensor resends those batches, so nothing is lost, and redeliveries are
// bounded by the window (the router deduplicates them by id).
func TestRouterKilledMidStream(t *testing.T) {
	const total, batch, window = 5000, 50, 4
	store := transporttest.NewStore()
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr, BatchSize: batch, Window: window})
	defer s.stop(t)
	for i := range 2500 {
		_ = s.c.Send(alert(i))
	}
	store.WaitUnique(500, 10*time.Second)
	rcv.Kill()
	for i := 2500; i < total; i++ {
		_ = s.c.Send(alert(i))
	}
	// Restart the receiver once the client has seen its stream break.
	poll(5*time.Second, func() bool { return s.c.Stats().Failures >= 1 })
	rcv, err = transporttest.Start(rcv.Addr, store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	if !store.WaitUnique(total, 30*time.Second) {
		t.Fatalf("receiver has %d of %d", store.Unique(), total)
	}
	waitSpoolEmpty(t, s.sp)
	if r := store.Redelivered(); r > batch*window {
		t.Fatalf("%d redeliveries; at most one window (%d) may be resent", r, batch*window)
	}
	if st := s.c.Stats(); st.Connects < 2 || st.Failures < 1 {
		t.Fatalf("stats %+v: want a reconnect", st)
	}
}

func TestRetryIsResentAndRejectIsDropped(t *testing.T) {
	store := transporttest.NewStore()
	var mu sync.Mutex
	seen := map[string]bool{}
	status := func(b *harrierv1.AlertBatch) harrierv1.AckStatus {
		first := b.GetAlerts()[0].GetId()
		for _, a := range b.GetAlerts() {
			if strings.HasPrefix(a.GetRule(), "poison") {
				return harrierv1.AckStatus_ACK_STATUS_REJECTED
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[first] { // every batch is refused once
			seen[first] = true
			return harrierv1.AckStatus_ACK_STATUS_RETRY
		}
		return harrierv1.AckStatus_ACK_STATUS_OK
	}
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{Status: status})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr, BatchSize: 10, Linger: time.Millisecond})
	defer s.stop(t)
	for i := range 300 {
		_ = s.c.Send(alert(i))
	}
	if !store.WaitUnique(300, 20*time.Second) {
		t.Fatalf("after RETRY acks: %d of 300", store.Unique())
	}
	waitSpoolEmpty(t, s.sp)
	p := alert(999)
	p.Rule = "poison"
	_ = s.c.Send(p)
	waitSpoolEmpty(t, s.sp)
	st := s.c.Stats()
	if st.BatchesRetry == 0 || st.AlertsRejected != 1 || store.Has(p.GetId()) {
		t.Fatalf("stats %+v: want retries and one rejected alert that is not stored", st)
	}
}

func TestMutualTLSAndBearerToken(t *testing.T) {
	certs := testcerts.New(t)
	rcv, store := transporttest.Run(t, transporttest.Options{TLS: certs.ServerTLS(true), Token: "s3cret"})

	t.Run("client cert and token", func(t *testing.T) {
		s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr, TLS: certs.ClientTLS(&certs.Client), Token: "s3cret"})
		defer s.stop(t)
		_ = s.c.Send(alert(1))
		if !store.WaitUnique(1, 10*time.Second) {
			t.Fatal("alert not delivered over mTLS with a token")
		}
	})
	refused := func(t *testing.T, cfg transport.Config, check func() bool) {
		s := startSensor(t, t.TempDir(), cfg)
		defer s.stop(t)
		_ = s.c.Send(alert(2))
		deadline := time.Now().Add(3 * time.Second)
		for !check() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if store.Has(alert(2).GetId()) {
			t.Fatal("alert delivered although it should be refused")
		}
		if !check() {
			t.Fatal("refusal not observed")
		}
		if s.sp.Len() != 1 {
			t.Fatalf("refused alert left the spool (len %d); it must wait for a good connection", s.sp.Len())
		}
	}
	t.Run("wrong token", func(t *testing.T) {
		before := rcv.Unauthenticated.Load()
		cfg := transport.Config{Addr: rcv.Addr, TLS: certs.ClientTLS(&certs.Client), Token: "wrong"}
		refused(t, cfg, func() bool { return rcv.Unauthenticated.Load() > before })
	})
	t.Run("no client certificate", func(t *testing.T) {
		var s *sensor
		cfg := transport.Config{Addr: rcv.Addr, TLS: certs.ClientTLS(nil), Token: "s3cret"}
		s = startSensor(t, t.TempDir(), cfg)
		defer s.stop(t)
		_ = s.c.Send(alert(3))
		// Judge once the handshake has failed (or the deadline passed).
		poll(5*time.Second, func() bool { return s.c.Stats().Failures > 0 })
		if store.Has(alert(3).GetId()) || s.c.Stats().Failures == 0 {
			t.Fatalf("connection without a client certificate was not refused: %+v", s.c.Stats())
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		cfg := transport.Config{Addr: rcv.Addr, TLS: certs.ClientTLS(&certs.OtherCAClient), Token: "s3cret"}
		s := startSensor(t, t.TempDir(), cfg)
		defer s.stop(t)
		_ = s.c.Send(alert(4))
		// Judge once the handshake has failed (or the deadline passed).
		poll(5*time.Second, func() bool { return s.c.Stats().Failures > 0 })
		if store.Has(alert(4).GetId()) {
			t.Fatal("client certificate from an unrelated CA was accepted")
		}
	})
}

func TestTokenWithoutTLSIsRefused(t *testing.T) {
	sp, err := spool.Open(t.TempDir(), spool.Options{SyncInterval: -1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := transport.New(transport.Config{Addr: "127.0.0.1:1", Token: "x"}, sp); err == nil {
		t.Fatal("a bearer token over plaintext was accepted")
	}
}

// BenchmarkDelivery measures alerts per second from Send to acknowledgement
// over loopback gRPC, through the on-disk spool.
func BenchmarkDelivery(b *testing.B) {
	rcv, _ := transporttest.Run(b, transporttest.Options{})
	sp, err := spool.Open(b.TempDir(), spool.Options{MaxBytes: 1 << 30, SyncInterval: time.Second, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	c, err := transport.New(transport.Config{Addr: rcv.Addr, Logger: quiet}, sp)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.Run(ctx) })
	const chunk = 100
	batch := make([]*harrierv1.Alert, chunk)
	var n atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i += chunk {
		for j := range batch {
			batch[j] = alert(i + j)
		}
		if err := c.Send(batch...); err != nil {
			b.Fatal(err)
		}
		n.Add(chunk)
	}
	for sp.Len() > 0 {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "alerts/s")
	// Sender, spool and receiver share this process: alerts per CPU-second
	// does not depend on other load on the machine.
	b.ReportMetric(float64(n.Load())/(cpuTime()-cpu0).Seconds(), "alerts/cpu-s")
	cancel()
	wg.Wait()
	c.Close()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOversizedAlertDoesNotWedgeDelivery: an alert larger than any router
// takes is dropped (counted), and those behind it are delivered.
func TestOversizedAlertDoesNotWedgeDelivery(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{})
	s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr, BatchBytes: 64 << 10})
	defer s.stop(t)
	huge := alert(0)
	huge.Output = strings.Repeat("x", 3<<20+1)
	_ = s.c.Send(huge)
	for i := 1; i <= 500; i++ {
		a := alert(i)
		a.Output = strings.Repeat("y", 1000) // batches are cut by bytes, not count
		_ = s.c.Send(a)
	}
	if !store.WaitUnique(500, 20*time.Second) {
		t.Fatalf("receiver has %d of 500 alerts behind an oversized one", store.Unique())
	}
	waitSpoolEmpty(t, s.sp)
	if st := s.c.Stats(); st.AlertsRejected != 1 || store.Has(huge.GetId()) {
		t.Fatalf("oversized alert: %+v", st)
	}
	if st := s.c.Stats(); st.BatchesSent < 8 {
		t.Fatalf("%d batches for 500 KB of alerts with a 64 KiB batch limit", st.BatchesSent)
	}
}

// TestAlertOverTheRoutersLimitIsDroppedAlone: the router's message limit
// (grpc.max_recv_bytes) is below the sensor's batch size and one alert is
// larger than it on its own. The sensor shrinks its batches, drops that
// alert alone (counted) and delivers the rest instead of reconnecting
// forever.
func TestAlertOverTheRoutersLimitIsDroppedAlone(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{MaxRecvBytes: 128 << 10})
	s := startSensor(t, t.TempDir(), transport.Config{Addr: rcv.Addr})
	defer s.stop(t)
	for i := 1; i <= 300; i++ {
		a := alert(i)
		a.Output = strings.Repeat("y", 1000)
		if i == 150 {
			a.Output = strings.Repeat("x", 200<<10) // over the router's limit alone
		}
		_ = s.c.Send(a)
	}
	if !store.WaitUnique(299, 20*time.Second) {
		t.Fatalf("receiver has %d of 299 alerts", store.Unique())
	}
	waitSpoolEmpty(t, s.sp)
	if st := s.c.Stats(); st.AlertsTooLarge != 1 || store.Has(alert(150).GetId()) {
		t.Fatalf("too-large alert: %+v", st)
	}
}

// poll waits until cond holds or d has passed, and reports whether it
// held: tests judge at once when the awaited thing happens, instead of
// after a fixed sleep.
func poll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
