package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/testcerts"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

const (
	sensorToken = "sensor-token-0123456789"
	clientToken = "client-token-0123456789"
)

// sink is a real webhook receiver.
type sink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	alerts map[string]*harrierv1.Alert
	status int
}

func newSink(t *testing.T) *sink {
	s := &sink{alerts: map[string]*harrierv1.Alert{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			a, err := falcojson.Unmarshal(line)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			s.alerts[a.GetId()] = a
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.alerts)
}

func (s *sink) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

type env struct {
	r       *Router
	dir     string
	certs   testcerts.Files
	cfgPath string
}

// start runs a router whose outputs section is outputsYAML with every
// "DIR" replaced by the test's directory.
func start(t *testing.T, outputsYAML string) *env {
	t.Helper()
	return startLogged(t, outputsYAML, nil)
}

// startLogged is start with the router's logs going to log.
func startLogged(t *testing.T, outputsYAML string, log *slog.Logger) *env {
	t.Helper()
	dir := t.TempDir()
	outputsYAML = strings.ReplaceAll(outputsYAML, "DIR", dir)
	certs, err := testcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`
data_dir: %s/data
grpc:
  address: 127.0.0.1:0
  tls: {cert_file: %s, key_file: %s, client_ca_file: %s}
  ingest_tokens: [%s]
  client_tokens: [%s]
http:
  address: 127.0.0.1:0
  metrics_address: 127.0.0.1:0
log: {level: error}
%s`, dir, certs.ServerCert, certs.ServerKey, certs.CA, sensorToken, clientToken, outputsYAML)
	p := filepath.Join(dir, "router.yaml")
	os.WriteFile(p, []byte(yaml), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := startConfig(t, cfg, log)
	return &env{r: r, dir: dir, certs: certs, cfgPath: p}
}

func (e *env) dial(t *testing.T, withClientCert bool) *grpc.ClientConn {
	t.Helper()
	c := tlsconfig.Client{CAFile: e.certs.CA}
	if withClientCert {
		c.CertFile, c.KeyFile = e.certs.ClientCert, e.certs.ClientKey
	}
	tc, err := c.Config()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(e.r.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func withToken(ctx context.Context, tok string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
}

func mkAlert(i int, p harrierv1.Priority, rule, source string, tags ...string) *harrierv1.Alert {
	return &harrierv1.Alert{Id: fmt.Sprintf("id-%06d", i), Rule: rule, Priority: p, Source: source, Tags: tags,
		Output: fmt.Sprintf("alert %d", i), Hostname: "node-1", Time: timestamppb.Now()}
}

// sendBatches streams batches and returns the acks.
func sendBatches(t *testing.T, ctx context.Context, conn *grpc.ClientConn, batches ...[]*harrierv1.Alert) []*harrierv1.BatchAck {
	t.Helper()
	stream, err := harrierv1.NewIngestClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range batches {
		if err := stream.Send(&harrierv1.AlertBatch{Sequence: uint64(i + 1), Alerts: b, SensorId: "sensor-1"}); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	var acks []*harrierv1.BatchAck
	for {
		a, err := stream.Recv()
		if err == io.EOF {
			return acks
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		acks = append(acks, a)
	}
}

func TestGRPCIngestOverMutualTLSWithTokenRoutesByPriority(t *testing.T) {
	all, crit := newSink(t), newSink(t)
	e := start(t, fmt.Sprintf(`
outputs:
  webhook:
    all: {address: %s, format: ndjson}
    crit: {address: %s, minimumpriority: critical}
  file:
    audit: {path: DIR/audit.jsonl, filter: {sources: [k8s_audit]}}
`, all.srv.URL, crit.srv.URL))
	conn := e.dial(t, true)
	ctx := withToken(context.Background(), sensorToken)
	var b1, b2 []*harrierv1.Alert
	for i := 0; i < 50; i++ {
		b1 = append(b1, mkAlert(i, harrierv1.Priority_PRIORITY_WARNING, "shell", "syscall"))
	}
	for i := 50; i < 60; i++ {
		b2 = append(b2, mkAlert(i, harrierv1.Priority_PRIORITY_CRITICAL, "audit", "k8s_audit"))
	}
	acks := sendBatches(t, ctx, conn, b1, b2)
	if len(acks) != 2 || acks[0].GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK || acks[1].GetSequence() != 2 {
		t.Fatalf("acks %v", acks)
	}
	// Acknowledged means stored: the journal file holds every alert already
	// (ack: written; readers see them once fsynced).
	if n := e.r.Journal().Written() - e.r.Journal().First(); n != 60 {
		t.Fatalf("journal holds %d alerts after the acks, want 60", n)
	}
	poll.Until(t, 10*time.Second, "all 60 at webhook.all", func() bool { return all.count() == 60 })
	poll.Until(t, 10*time.Second, "10 critical at webhook.crit", func() bool { return crit.count() == 10 })
	poll.Until(t, 10*time.Second, "10 k8s_audit lines in the file", func() bool {
		b, _ := os.ReadFile(filepath.Join(e.dir, "audit.jsonl"))
		return bytes.Count(b, []byte("\n")) == 10
	})
	all.mu.Lock()
	got := all.alerts["id-000007"]
	all.mu.Unlock()
	if got.GetSensorId() != "sensor-1" || got.GetRule() != "shell" || got.GetOutput() != "alert 7" {
		t.Fatalf("alert content changed in transit: %v", got)
	}
}

func TestGRPCAuthAndValidation(t *testing.T) {
	s := newSink(t)
	e := start(t, fmt.Sprintf("webhook: {address: %s}\n", s.srv.URL))
	a := []*harrierv1.Alert{mkAlert(1, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")}

	// No client certificate: the TLS handshake fails.
	stream, err := harrierv1.NewIngestClient(e.dial(t, false)).Stream(withToken(context.Background(), sensorToken))
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("without client cert: %v", err)
	}
	conn := e.dial(t, true)
	for _, tok := range []string{"", "wrong-token-0123456789", clientToken} {
		ctx := context.Background()
		if tok != "" {
			ctx = withToken(ctx, tok)
		}
		stream, err := harrierv1.NewIngestClient(conn).Stream(ctx)
		if err == nil {
			stream.Send(&harrierv1.AlertBatch{Sequence: 1, Alerts: a})
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
	// Bad batches are rejected with a reason; good ones still pass.
	stream, err = harrierv1.NewIngestClient(conn).Stream(withToken(context.Background(), sensorToken))
	if err != nil {
		t.Fatal(err)
	}
	send := func(seq uint64, alerts ...*harrierv1.Alert) *harrierv1.BatchAck {
		stream.Send(&harrierv1.AlertBatch{Sequence: seq, Alerts: alerts})
		ack, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return ack
	}
	if ack := send(1, a...); ack.GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK {
		t.Fatalf("good batch: %v", ack)
	}
	if ack := send(1, a...); ack.GetStatus() != harrierv1.AckStatus_ACK_STATUS_REJECTED || !strings.Contains(ack.GetReason(), "sequence") {
		t.Fatalf("repeated sequence: %v", ack)
	}
	// An invalid alert is refused alone: kept as a dead letter of output
	// "ingest", and the batch is acknowledged.
	if ack := send(2, &harrierv1.Alert{Id: "x"}); ack.GetStatus() != harrierv1.AckStatus_ACK_STATUS_OK || !strings.Contains(ack.GetReason(), "dead letters") {
		t.Fatalf("alert without rule: %v", ack)
	}
	if ack := send(3); ack.GetStatus() != harrierv1.AckStatus_ACK_STATUS_REJECTED {
		t.Fatalf("empty batch: %v", ack)
	}
	stream.CloseSend()
	poll.Until(t, 10*time.Second, "the one good alert", func() bool { return s.count() == 1 })
}

func TestFalcoHTTPIngest(t *testing.T) {
	s := newSink(t)
	e := start(t, fmt.Sprintf("webhook: {address: %s, minimumpriority: warning}\n", s.srv.URL))
	url := "http://" + e.r.HTTPAddr() + "/"
	falco := `{"hostname":"falco-node","output":"10:20:05.408091526: Warning Shell spawned in a container (user=root shell=bash)","priority":"Warning","rule":"Terminal shell in container","source":"syscall","tags":["container","shell"],"time":"2026-11-24T10:20:05.408091526Z","output_fields":{"container.id":"a1b2c3","proc.name":"bash","user.name":"root","evt.time":1795602005408091526}}`
	resp, err := http.Post(url, "application/json", strings.NewReader(falco))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp, err := http.Post(url+"elsewhere", "application/json", strings.NewReader(falco)); err != nil || resp.StatusCode != 404 {
		t.Fatalf("POST /elsewhere: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Falco's compress_uploads: gzip bodies.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Replace(falco, `"hostname":"falco-node"`, `"hostname":"falco-gz"`, 1)))
	zw.Close()
	req, _ := http.NewRequest("POST", url, &gz)
	req.Header.Set("Content-Encoding", "gzip")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("gzip POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	debug := strings.Replace(falco, `"Warning","rule"`, `"Debug","rule"`, 1)
	resp, _ = http.Post(url, "application/json", strings.NewReader(debug))
	resp.Body.Close()
	for _, bad := range []string{`{"rule":`, ``, `{"priority":"Loud","rule":"x"}`} {
		resp, err := http.Post(url, "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(body) < 5 {
			t.Fatalf("bad JSON %q: %d %q", bad, resp.StatusCode, body)
		}
	}
	poll.Until(t, 10*time.Second, "the warning alerts", func() bool { return s.count() == 2 })
	time.Sleep(100 * time.Millisecond)
	if s.count() != 2 {
		t.Fatal("the debug alert passed minimumpriority warning")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.alerts {
		if !strings.HasPrefix(a.GetHostname(), "falco-") || a.GetRule() != "Terminal shell in container" || len(a.GetId()) != 36 ||
			a.GetOutputFields()["proc.name"].GetStringValue() != "bash" {
			t.Fatalf("routed alert %v", a)
		}
	}
}

func TestSubscribersGetExactlyTheirAlertsAndAStalledOneMisses(t *testing.T) {
	s := newSink(t)
	e := start(t, fmt.Sprintf("webhook: {address: %s, format: ndjson}\nsubscriptions: {buffer: 4096}\n", s.srv.URL))
	conn := e.dial(t, true)
	cctx, cancel := context.WithCancel(withToken(context.Background(), clientToken))
	defer cancel()
	sub := func(conn *grpc.ClientConn, f *harrierv1.AlertFilter, replay uint32) harrierv1.Subscription_SubscribeClient {
		st, err := harrierv1.NewSubscriptionClient(conn).Subscribe(cctx, &harrierv1.SubscribeRequest{Filter: f, ReplayLast: replay})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Stored before anyone subscribed: only reachable by replay.
	sendBatches(t, withToken(context.Background(), sensorToken), conn,
		[]*harrierv1.Alert{mkAlert(900000, harrierv1.Priority_PRIORITY_ERROR, "old", "syscall"), mkAlert(900001, harrierv1.Priority_PRIORITY_ERROR, "old", "syscall")})
	// Replay reaches fsynced alerts (acknowledged "written" ones join within
	// journal.fsync_interval).
	poll.Until(t, 10*time.Second, "the old alerts fsynced", func() bool { return e.r.Journal().Next() == e.r.Journal().Written() })

	// The stalled client has its own connection with a fixed 64 KiB flow
	// control window (no BDP growth), so it really stops the server's sends.
	tc, _ := tlsconfig.Client{CAFile: e.certs.CA, CertFile: e.certs.ClientCert, KeyFile: e.certs.ClientKey}.Config()
	slowConn, err := grpc.NewClient(e.r.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(tc)),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer slowConn.Close()
	stalled := sub(slowConn, nil, 0)
	crit := sub(conn, &harrierv1.AlertFilter{MinPriority: harrierv1.Priority_PRIORITY_CRITICAL}, 0)
	shell := sub(conn, &harrierv1.AlertFilter{Tags: []string{"shell"}, Sources: []string{"syscall"}}, 0)
	replayed := sub(conn, &harrierv1.AlertFilter{Rules: []string{"old"}}, 1)
	poll.Until(t, 10*time.Second, "4 subscribers", func() bool { return e.r.hub.Subscribers() == 4 })

	const total = 6000
	pad := strings.Repeat("x", 1024)
	var batch []*harrierv1.Alert
	wantCrit, wantShell := map[string]bool{}, map[string]bool{}
	for i := 0; i < total; i++ {
		var a *harrierv1.Alert
		switch i % 4 {
		case 0:
			a = mkAlert(i, harrierv1.Priority_PRIORITY_CRITICAL, "crit", "k8s_audit")
			wantCrit[a.Id] = true
		case 1:
			a = mkAlert(i, harrierv1.Priority_PRIORITY_NOTICE, "sh", "syscall", "shell", "container")
			wantShell[a.Id] = true
		case 2:
			a = mkAlert(i, harrierv1.Priority_PRIORITY_EMERGENCY, "sh", "syscall", "shell")
			wantCrit[a.Id], wantShell[a.Id] = true, true
		default:
			a = mkAlert(i, harrierv1.Priority_PRIORITY_DEBUG, "noise", "syscall", "other")
		}
		a.Output += pad
		batch = append(batch, a)
	}
	type result struct {
		got map[string]bool
		err error
	}
	collect := func(st harrierv1.Subscription_SubscribeClient, n int) chan result {
		ch := make(chan result, 1)
		go func() {
			got := map[string]bool{}
			for len(got) < n {
				r, err := st.Recv()
				if err != nil {
					ch <- result{got, err}
					return
				}
				if r.GetMissed() != nil {
					ch <- result{got, fmt.Errorf("a reading subscriber missed %d", r.GetMissed().GetCount())}
					return
				}
				if a := r.GetAlert(); a != nil {
					if got[a.Id] {
						ch <- result{got, fmt.Errorf("duplicate %s", a.Id)}
						return
					}
					got[a.Id] = true
				}
			}
			ch <- result{got, nil}
		}()
		return ch
	}
	critC, shellC, replayC := collect(crit, len(wantCrit)), collect(shell, len(wantShell)), collect(replayed, 1)
	var batches [][]*harrierv1.Alert
	for i := 0; i < total; i += 300 {
		batches = append(batches, batch[i:i+300])
	}
	sendBatches(t, withToken(context.Background(), sensorToken), conn, batches...)

	check := func(name string, ch chan result, want map[string]bool) {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatalf("%s: %v", name, r.err)
			}
			for id := range want {
				if !r.got[id] {
					t.Fatalf("%s lacks %s", name, id)
				}
			}
			if len(r.got) != len(want) {
				t.Fatalf("%s got %d, want %d", name, len(r.got), len(want))
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: timed out", name)
		}
	}
	check("critical subscriber", critC, wantCrit)
	check("shell subscriber", shellC, wantShell)
	check("replaying subscriber", replayC, map[string]bool{"id-900001": true})
	poll.Until(t, 10*time.Second, "webhook has all", func() bool { return s.count() == total+2 })

	// The stalled subscriber, reading at last, is told what it missed.
	var received, missed uint64
	for received+missed < total {
		r, err := stalled.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if r.GetMissed() != nil {
			missed += r.GetMissed().GetCount()
		} else {
			received++
		}
	}
	if missed == 0 || received+missed != total {
		t.Fatalf("stalled subscriber: received %d, missed %d; want a sum of %d with misses", received, missed, total)
	}
	t.Logf("stalled subscriber: received %d, told it missed %d", received, missed)
}

func TestDeadLettersListAndReplayOverGRPC(t *testing.T) {
	s := newSink(t)
	e := start(t, fmt.Sprintf("outputs: {webhook: {soc: {address: %s}}}\n", s.srv.URL))
	s.setStatus(400) // the receiver refuses everything: permanent
	conn := e.dial(t, true)
	sendBatches(t, withToken(context.Background(), sensorToken), conn,
		[]*harrierv1.Alert{mkAlert(1, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall"), mkAlert(2, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})
	dl := harrierv1.NewDeadLettersClient(conn)
	ctx := withToken(context.Background(), clientToken)
	var resp *harrierv1.ListDeadLettersResponse
	poll.Until(t, 10*time.Second, "2 dead letters", func() bool {
		var err error
		resp, err = dl.List(ctx, &harrierv1.ListDeadLettersRequest{})
		return err == nil && resp.GetTotal() == 2
	})
	if l := resp.GetDeadLetters()[0]; l.GetOutput() != "webhook.soc" || !strings.Contains(l.GetReason(), "400") {
		t.Fatalf("dead letter %v", l)
	}
	if hr, err := http.Get("http://" + e.r.MetricsAddr() + "/healthz"); err == nil {
		body, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if !strings.Contains(string(body), `"webhook.soc": 2`) {
			t.Fatalf("healthz lacks the dead-letter count: %s", body)
		}
	}
	if _, err := dl.List(context.Background(), &harrierv1.ListDeadLettersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("list without token: %v", err)
	}
	s.setStatus(0)
	rr, err := dl.Replay(ctx, &harrierv1.ReplayDeadLettersRequest{Output: "webhook.soc"})
	if err != nil || rr.GetReplayed() != 2 || s.count() != 2 {
		t.Fatalf("replay: %v %v; sink has %d", rr, err, s.count())
	}
	if resp, _ := dl.List(ctx, &harrierv1.ListDeadLettersRequest{}); resp.GetTotal() != 0 {
		t.Fatalf("%d left", resp.GetTotal())
	}
	if _, err := dl.Replay(ctx, &harrierv1.ReplayDeadLettersRequest{Output: "webhook.nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("replay of unknown output: %v", err)
	}
}

func TestHealthzReportsOutputState(t *testing.T) {
	s := newSink(t)
	s.setStatus(503)
	e := start(t, fmt.Sprintf("webhook: {address: %s}\n", s.srv.URL))
	conn := e.dial(t, true)
	sendBatches(t, withToken(context.Background(), sensorToken), conn, []*harrierv1.Alert{mkAlert(1, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})
	var body string
	poll.Until(t, 10*time.Second, "degraded health", func() bool {
		resp, err := http.Get("http://" + e.r.MetricsAddr() + "/healthz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, `"degraded"`)
	})
	if !strings.Contains(body, `"retrying"`) || !strings.Contains(body, "HTTP 503") || !strings.Contains(body, `"queue_depth": 1`) {
		t.Fatalf("healthz: %s", body)
	}
	resp, err := http.Get("http://" + e.r.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`harrier_router_output_retried_total{output="webhook"}`, `harrier_router_output_queue_depth{output="webhook"} 1`,
		`harrier_router_ingested_alerts_total{transport="grpc"} 1`, `harrier_router_output_up{output="webhook"} 0`} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	s.setStatus(0)
	poll.Until(t, 10*time.Second, "delivered after recovery", func() bool { return s.count() == 1 })
}

func TestReloadAddsRemovesAndRefusesInvalid(t *testing.T) {
	a, b := newSink(t), newSink(t)
	e := start(t, fmt.Sprintf("outputs: {webhook: {a: {address: %s}}}\n", a.srv.URL))
	conn := e.dial(t, true)
	ctx := withToken(context.Background(), sensorToken)
	sendBatches(t, ctx, conn, []*harrierv1.Alert{mkAlert(1, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})
	poll.Until(t, 10*time.Second, "a gets 1", func() bool { return a.count() == 1 })

	load := func(outputs string) (*config.Config, error) {
		old, _ := os.ReadFile(e.cfgPath)
		i := bytes.Index(old, []byte("outputs:"))
		p := filepath.Join(e.dir, "next.yaml")
		os.WriteFile(p, append(old[:i:i], outputs...), 0o600)
		return config.Load(p)
	}
	if _, err := load("outputs: {webhook: {a: {address: " + a.srv.URL + ", minimumpriority: extreme}}}\n"); err == nil ||
		!strings.Contains(err.Error(), "outputs.webhook.a.minimumpriority") {
		t.Fatalf("invalid reload: %v", err)
	}
	cfg, err := load(fmt.Sprintf("outputs: {webhook: {b: {address: %s}}}\n", b.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	sendBatches(t, ctx, conn, []*harrierv1.Alert{mkAlert(2, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})
	poll.Until(t, 10*time.Second, "b gets the new alert", func() bool { return b.count() == 1 })
	if a.count() != 1 {
		t.Fatalf("removed output a still receives: %d", a.count())
	}
	// Token rotation applies to new streams.
	cfg2 := *cfg
	cfg2.GRPC.IngestTokens = []string{"rotated-token-0123456789"}
	e.r.Reload(&cfg2)
	st, err := harrierv1.NewIngestClient(conn).Stream(ctx) // the old token
	if err == nil {
		st.Send(&harrierv1.AlertBatch{Sequence: 1, Alerts: []*harrierv1.Alert{mkAlert(3, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")}})
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("old token after rotation: %v", err)
	}
	sendBatches(t, withToken(context.Background(), "rotated-token-0123456789"), conn,
		[]*harrierv1.Alert{mkAlert(4, harrierv1.Priority_PRIORITY_ERROR, "r", "syscall")})
	poll.Until(t, 10*time.Second, "b gets the alert sent with the rotated token", func() bool { return b.count() == 2 })

	// Re-adding a delivers what it missed while removed.
	cfg, _ = load(fmt.Sprintf("outputs: {webhook: {a: {address: %s}, b: {address: %s}}}\n", a.srv.URL, b.srv.URL))
	e.r.Reload(cfg)
	poll.Until(t, 10*time.Second, "a catches up", func() bool { return a.count() == 3 })
}

func TestFalcoHTTPIngestOverMutualTLS(t *testing.T) {
	s := newSink(t)
	dir := t.TempDir()
	certs, err := testcerts.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "router.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`
data_dir: %s/data
grpc: {address: 127.0.0.1:0}
http:
  address: 127.0.0.1:0
  metrics_address: 127.0.0.1:0
  tls: {cert_file: %s, key_file: %s, client_ca_file: %s}
  token: http-token-0123456789
log: {level: error}
webhook: {address: %s}
`, dir, certs.ServerCert, certs.ServerKey, certs.CA, s.srv.URL)), 0o600)
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := startConfig(t, cfg, nil)
	post := func(withCert bool, token string) (int, error) {
		c := tlsconfig.Client{CAFile: certs.CA}
		if withCert {
			c.CertFile, c.KeyFile = certs.ClientCert, certs.ClientKey
		}
		tc, _ := c.Config()
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 5 * time.Second}
		req, _ := http.NewRequest("POST", "https://"+r.HTTPAddr()+"/", strings.NewReader(
			`{"rule":"r","priority":"Error","output":"o","source":"syscall","time":"2026-11-24T10:00:00.000000000Z","output_fields":{}}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if _, err := post(false, "http-token-0123456789"); err == nil {
		t.Fatal("a client without certificate was accepted")
	}
	if code, err := post(true, "wrong"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d %v", code, err)
	}
	if code, err := post(true, "http-token-0123456789"); err != nil || code != 200 {
		t.Fatalf("good request: %d %v", code, err)
	}
	poll.Until(t, 10*time.Second, "delivery", func() bool { return s.count() == 1 })
}
