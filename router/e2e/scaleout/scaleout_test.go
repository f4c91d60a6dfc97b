// Package scaleout runs three harrier-router processes as stateless
// replicas on the Kafka journal (kfake, a real Kafka protocol peer with
// consumer groups), four sensor streams balanced over them with gRPC's
// round_robin, and SIGKILLs one replica mid-stream: every alert
// acknowledged to a sensor reaches the webhook and Elasticsearch (one
// document each), and a subscriber on another replica sees every id.
package scaleout

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
	"github.com/harrier-security/harrier/router/internal/testkit/sensorstream"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
	"github.com/harrier-security/harrier/router/internal/testpeers/espeer"
	"github.com/harrier-security/harrier/router/internal/testpeers/kafkapeer"
)

var binary string

func TestMain(m *testing.M) {
	routerproc.Main(m, "harrier-scaleout", nil, routerproc.Target{Pkg: "../../cmd/harrier-router", Path: &binary})
}

// replica is one harrier-router process with its own data_dir; the log
// itself is in Kafka.
type replica struct {
	*routerproc.Proc
	t                  *testing.T
	cfg                string
	grpcAddr, httpAddr string
	metricsAddr        string // /healthz and /metrics
}

func newReplica(t *testing.T, brokers, hook, es string) *replica {
	dir := t.TempDir()
	r := &replica{t: t, cfg: filepath.Join(dir, "router.yaml"), grpcAddr: routerproc.FreePort(t), httpAddr: routerproc.FreePort(t), metricsAddr: routerproc.FreePort(t)}
	cfg := fmt.Sprintf(`journal:
  backend: kafka
  kafka:
    brokers: [%s]
    topic: harrier-alerts
    partitions: 8
    replication_factor: 1
    session_timeout: 6s
delivery: {batch_size: 200, backoff: {initial: 50ms, max: 500ms}}
outputs:
  webhook:
    soc: {address: %s, format: ndjson}
  elasticsearch:
    search: {hostport: %s, index: falco, suffix: none, timeout: 5s}
`, brokers, hook, es)
	routerproc.WriteConfig(t, r.cfg, routerproc.Config(dir+"/data", routerproc.Listeners{GRPC: r.grpcAddr, HTTP: r.httpAddr, Metrics: r.metricsAddr}, cfg))
	return r
}

func (r *replica) start() {
	t := r.t
	t.Helper()
	r.Proc = routerproc.Start(t, binary, "run", "--config", r.cfg)
	r.WaitHealthy(t, r.metricsAddr, 20*time.Second)
}

func (r *replica) logs() string { return r.Logs() }
func (r *replica) kill()        { r.Kill() } // SIGKILL
func (r *replica) stop()        { r.Stop() }

// newSensor streams as sensor id over one connection balanced by gRPC's
// round_robin over every replica, so a killed replica's streams fail over.
func newSensor(t *testing.T, id string, addrs []string) *sensorstream.Sensor {
	rs := manual.NewBuilderWithScheme("routers-" + id)
	var as []resolver.Address
	for _, a := range addrs {
		as = append(as, resolver.Address{Addr: a})
	}
	rs.InitialState(resolver.State{Addresses: as})
	conn, err := grpc.NewClient(rs.Scheme()+":///routers", grpc.WithResolvers(rs),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sensorstream.Sensor{Conn: conn, ID: id}
}

// subscriber collects every alert id a live subscription streams.
type subscriber struct {
	mu  sync.Mutex
	ids map[string]bool
}

func subscribe(t *testing.T, ctx context.Context, addr string) *subscriber {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stream, err := harrierv1.NewSubscriptionClient(conn).Subscribe(ctx, &harrierv1.SubscribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{ids: map[string]bool{}}
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if a := m.GetAlert(); a != nil {
				s.mu.Lock()
				s.ids[a.GetId()] = true
				s.mu.Unlock()
			}
		}
	}()
	return s
}

func (s *subscriber) missing(ids []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, id := range ids {
		if !s.ids[id] {
			n++
		}
	}
	return n
}

func TestThreeReplicasOneKilledLoseNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three routers, Kafka and Elasticsearch peers")
	}
	kc := kafkapeer.Start(t, 8, nil)
	es := espeer.Start(t, espeer.Options{})
	wh := webhookrecv.New(t)
	var rs []*replica
	var addrs []string
	for i := range 3 {
		r := newReplica(t, kc.Addr(), wh.URL, "http://"+es.Addr())
		r.start()
		t.Cleanup(func() {
			r.stop()
			if t.Failed() {
				t.Logf("replica %d log (warnings):\n%s", i, warnings(r.logs()))
			}
		})
		rs = append(rs, r)
		addrs = append(addrs, r.grpcAddr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The subscriber is on replica 0, which stays up: it must see the
	// alerts every replica accepts. Its hub follows the topic from its end,
	// so it is started (and caught up with a first alert) before traffic.
	sub := subscribe(t, ctx, rs[0].grpcAddr)

	sensors := make([]*sensorstream.Sensor, 4)
	stops := make([]func(), len(sensors))
	for i := range sensors {
		sensors[i] = newSensor(t, fmt.Sprintf("node-%d", i), addrs)
		stops[i] = sensors[i].Start(t, 25, 5*time.Millisecond)
	}
	acked := func() (all []string) {
		for _, s := range sensors {
			all = append(all, s.Acked()...)
		}
		return all
	}
	poll.Until(t, 30*time.Second, "traffic through every output", func() bool { return wh.Unique() >= 1000 })
	rs[1].kill() // SIGKILL mid-stream: its sensors fail over, its partitions move
	killedAt := len(acked())
	poll.Until(t, 30*time.Second, "traffic after the kill", func() bool { return len(acked()) >= killedAt+1500 })
	rs[1].start() // restarted later: it rejoins the groups
	restartedAt := len(acked())
	poll.Until(t, 30*time.Second, "traffic after the restart", func() bool { return len(acked()) >= restartedAt+1000 })
	for _, stop := range stops {
		stop()
	}
	all := acked()

	defer func() {
		if t.Failed() {
			counts := wh.Counts()
			var miss []string
			for _, id := range all {
				if counts[id] == 0 {
					miss = append(miss, id)
				}
			}
			t.Logf("%d of %d acknowledged alerts missing at the webhook: %v", len(miss), len(all), head(miss, 20))
		}
	}()
	poll.Until(t, 30*time.Second, "every acknowledged alert at the webhook", func() bool { return wh.Missing(all) == 0 })
	poll.Until(t, 30*time.Second, "the subscription to see every acknowledged id", func() bool { return sub.missing(all) == 0 })
	// Elasticsearch: _id is the alert id, so redeliveries overwrite; the
	// index holds exactly the distinct alerts delivered.
	var esDocs int64
	var esErr error
	defer func() {
		if t.Failed() {
			t.Logf("elasticsearch: %d documents (%v), webhook %d distinct", esDocs, esErr, wh.Unique())
		}
	}()
	poll.Until(t, 60*time.Second, "one Elasticsearch document per alert", func() bool {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		esDocs, esErr = es.Count(cctx, "falco", nil)
		return esErr == nil && esDocs == int64(wh.Unique())
	})
	missingES := 0
	for i := 0; i < len(all); i += len(all)/50 + 1 { // a sample of ids, each exactly once
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := es.Count(cctx, "falco", map[string]any{"ids": map[string]any{"values": []string{all[i]}}})
		ccancel()
		if err != nil || n != 1 {
			missingES++
			t.Errorf("alert %s: %d documents (%v)", all[i], n, err)
		}
	}
	dups := 0
	for _, n := range wh.Counts() {
		if n > 1 {
			dups++
		}
	}
	t.Logf("%d alerts acknowledged (%d before SIGKILL, %d before restart); webhook %d distinct (%d redelivered, at least once); Elasticsearch %d docs",
		len(all), killedAt, restartedAt, wh.Unique(), dups, wh.Unique())
}

func warnings(s string) string {
	var out [][]byte
	for _, l := range bytes.Split([]byte(s), []byte("\n")) {
		if bytes.Contains(l, []byte(`"level":"WARN"`)) || bytes.Contains(l, []byte(`"level":"ERROR"`)) || bytes.Contains(l, []byte("started")) {
			out = append(out, l)
		}
	}
	return routerproc.Tail(string(bytes.Join(out, []byte("\n"))), 40)
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
