// Package e2e runs the harrier-router binary as a separate process against
// real HTTP receivers and real gRPC clients: crash safety under SIGKILL,
// outages, live configuration edits, Falco's HTTP JSON.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/harrier-security/harrier/proto/falcojson"
	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
)

var binary, ctlBinary string

func TestMain(m *testing.M) {
	routerproc.Main(m, "harrier-e2e", nil,
		routerproc.Target{Pkg: "../cmd/harrier-router", Path: &binary},
		routerproc.Target{Pkg: "../cmd/harrierctl", Path: &ctlBinary})
}

var freePort = routerproc.FreePort

// metricsAddrs pairs each HTTP ingest address with the address of its
// router's /metrics and /healthz listener, so that restarts and reloads of
// one configuration keep both.
var metricsAddrs sync.Map

func metricsFor(t *testing.T, httpAddr string) string {
	if a, ok := metricsAddrs.Load(httpAddr); ok {
		return a.(string)
	}
	a, _ := metricsAddrs.LoadOrStore(httpAddr, freePort(t))
	return a.(string)
}

// router is one harrier-router process.
type router struct {
	*routerproc.Proc
	t        *testing.T
	grpcAddr string
	httpAddr string
	cfgPath  string
}

// writeConfig writes the configuration with the given outputs section.
func writeConfig(t *testing.T, path, dataDir, grpcAddr, httpAddr, outputs string) {
	t.Helper()
	routerproc.WriteConfig(t, path, routerproc.Config(dataDir, routerproc.Listeners{GRPC: grpcAddr, HTTP: httpAddr, Metrics: metricsFor(t, httpAddr)}, outputs))
}

func startRouter(t *testing.T, cfgPath, grpcAddr, httpAddr string) *router {
	t.Helper()
	r := &router{Proc: routerproc.Start(t, binary, "run", "--config", cfgPath), t: t, grpcAddr: grpcAddr, httpAddr: httpAddr, cfgPath: cfgPath}
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("router log:\n%s", r.logs())
		}
	})
	r.WaitHealthy(t, metricsFor(t, httpAddr), 15*time.Second)
	return r
}

func (r *router) logs() string { return r.Logs() }
func (r *router) kill()        { r.Kill() }
func (r *router) stop()        { r.Stop() }

// receiver is a real webhook endpoint.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	ids    map[string]int
	status int
	delay  time.Duration
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		st, delay := r.status, r.delay
		r.mu.Unlock()
		time.Sleep(delay)
		if st != 0 {
			w.WriteHeader(st)
			return
		}
		var got []string
		for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
			a, err := falcojson.Unmarshal(line)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			got = append(got, a.GetId())
		}
		r.mu.Lock()
		for _, id := range got {
			r.ids[id]++
		}
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(status int) {
	r.mu.Lock()
	r.status = status
	r.mu.Unlock()
}

func (r *receiver) has(ids []string) (missing int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if r.ids[id] == 0 {
			missing++
		}
	}
	return missing
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func fileIDs(t *testing.T, path string) map[string]bool {
	ids := map[string]bool{}
	f, err := os.Open(path)
	if err != nil {
		return ids
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		a, err := falcojson.Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ids[a.GetId()] = true
	}
	return ids
}

// sensor streams batches like a real sensor: it forgets a batch only when it
// is acknowledged OK, and resends it after reconnecting.
type sensor struct {
	addr  string
	mu    sync.Mutex
	acked []string
	next  int
}

func (s *sensor) ackedIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acked...)
}

func (s *sensor) batch(n int, prefix string) []*harrierv1.Alert {
	out := make([]*harrierv1.Alert, n)
	for i := range out {
		s.next++
		out[i] = &harrierv1.Alert{Id: fmt.Sprintf("%s-%07d", prefix, s.next), Rule: "Terminal shell in container",
			Priority: harrierv1.Priority_PRIORITY_WARNING, Source: "syscall", Hostname: "node-1",
			Output: "shell spawned", Time: timestamppb.Now(), Tags: []string{"shell"}}
	}
	return out
}

// run streams batches of n alerts until ctx ends, reconnecting on errors.
func (s *sensor) run(ctx context.Context, n int, prefix string, pause time.Duration) {
	var pending []*harrierv1.Alert
	seq := uint64(0)
	for ctx.Err() == nil {
		conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return
		}
		stream, err := harrierv1.NewIngestClient(conn).Stream(ctx)
		if err != nil {
			conn.Close()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		seq = 0
		for ctx.Err() == nil {
			if pending == nil {
				pending = s.batch(n, prefix)
			}
			seq++
			if err = stream.Send(&harrierv1.AlertBatch{Sequence: seq, Alerts: pending, SensorId: "node-1"}); err != nil {
				break
			}
			ack, err2 := stream.Recv()
			if err2 != nil {
				err = err2
				break
			}
			if ack.GetStatus() == harrierv1.AckStatus_ACK_STATUS_OK {
				s.mu.Lock()
				for _, a := range pending {
					s.acked = append(s.acked, a.Id)
				}
				s.mu.Unlock()
				pending = nil
			}
			time.Sleep(pause)
		}
		conn.Close()
		time.Sleep(100 * time.Millisecond)
	}
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestSIGKILLMidStreamLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	hook := newReceiver(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
outputs:
  webhook:
    soc: {address: %s, format: ndjson}
  file:
    archive: {path: %s/alerts.jsonl}
`, hook.srv.URL, dir))
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	ctx, cancel := context.WithCancel(context.Background())
	s := &sensor{addr: grpcAddr}
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx, 50, "k", 2*time.Millisecond) }()

	eventually(t, 20*time.Second, "some acked alerts", func() bool { return len(s.ackedIDs()) >= 2000 })
	r.kill() // SIGKILL mid-stream
	killedAt := len(s.ackedIDs())
	time.Sleep(300 * time.Millisecond)
	startRouter(t, cfg, grpcAddr, httpAddr)
	eventually(t, 20*time.Second, "the stream to resume", func() bool { return len(s.ackedIDs()) >= killedAt+2000 })
	cancel()
	<-done
	acked := s.ackedIDs()
	eventually(t, 30*time.Second, "every acknowledged alert at the webhook", func() bool { return hook.has(acked) == 0 })
	eventually(t, 30*time.Second, "every acknowledged alert in the file", func() bool {
		ids := fileIDs(t, dir+"/alerts.jsonl")
		for _, id := range acked {
			if !ids[id] {
				return false
			}
		}
		return true
	})
	t.Logf("%d alerts acknowledged (%d before SIGKILL), all delivered to the webhook and the file", len(acked), killedAt)
}

func TestWebhookOutageDeliversEverythingWithoutSlowingOthers(t *testing.T) {
	dir := t.TempDir()
	flaky, steady := newReceiver(t), newReceiver(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
delivery: {backoff: {initial: 50ms, max: 400ms}}
outputs:
  webhook:
    flaky: {address: %s}
    steady: {address: %s, format: ndjson}
`, flaky.srv.URL, steady.srv.URL))
	startRouter(t, cfg, grpcAddr, httpAddr)
	ctx, cancel := context.WithCancel(context.Background())
	s := &sensor{addr: grpcAddr}
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx, 20, "o", 5*time.Millisecond) }()
	eventually(t, 10*time.Second, "traffic", func() bool { return flaky.count() > 100 })

	flaky.set(503)
	outageStart := len(s.ackedIDs())
	time.Sleep(2 * time.Second)
	during := s.ackedIDs()[outageStart:]
	// The healthy webhook kept up during the outage.
	eventually(t, 3*time.Second, "steady output current during the outage", func() bool { return steady.has(during) == 0 })
	if flaky.has(during) == 0 {
		t.Fatal("the failing webhook received alerts during its outage")
	}
	flaky.set(0)
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	acked := s.ackedIDs()
	eventually(t, 20*time.Second, "the recovered webhook has everything", func() bool { return flaky.has(acked) == 0 })
	if steady.has(acked) != 0 {
		t.Fatal("steady webhook lost alerts")
	}
	t.Logf("%d alerts, %d sent during a 2s outage; all delivered after recovery", len(acked), len(during))
}

func TestConfigEditsApplyAndInvalidEditIsRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := newReceiver(t), newReceiver(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	data := dir + "/data"
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s}\n", a.srv.URL))
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	post := func(rule string) {
		t.Helper()
		body := fmt.Sprintf(`{"output":"x","priority":"Critical","rule":%q,"time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h","output_fields":{}}`, rule)
		resp, err := http.Post("http://"+httpAddr+"/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
	}
	post("one")
	eventually(t, 5*time.Second, "a has 1", func() bool { return a.count() == 1 })

	// Add a second, named webhook.
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s}\noutputs: {webhook: {b: {address: %s}}}\n", a.srv.URL, b.srv.URL))
	eventually(t, 5*time.Second, "reload applied", func() bool { return strings.Contains(r.logs(), "config reloaded") })
	post("two")
	eventually(t, 5*time.Second, "a has 2 and b has 1", func() bool { return a.count() == 2 && b.count() == 1 })

	// An invalid edit is refused with the key named; the old config keeps working.
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s, minimumpriority: urgent}\n", a.srv.URL))
	eventually(t, 5*time.Second, "refusal logged", func() bool {
		return strings.Contains(r.logs(), "config reload refused") && strings.Contains(r.logs(), "webhook.minimumpriority")
	})
	post("three")
	eventually(t, 5*time.Second, "both still deliver", func() bool { return a.count() == 3 && b.count() == 2 })
}

func TestFalcoHTTPPostIsRoutedAndBadJSONRefused(t *testing.T) {
	dir := t.TempDir()
	hook := newReceiver(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s, minimumpriority: error}\n", hook.srv.URL))
	startRouter(t, cfg, grpcAddr, httpAddr)
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"output":"Error writing below /bin","priority":"Error","rule":"Write below binary dir","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h1","tags":["filesystem"],"output_fields":{"fd.name":"/bin/x"}}`, 200},
		{`{"output":"n","priority":"Notice","rule":"Quiet","time":"2026-11-24T10:00:00.000000000Z","source":"syscall","hostname":"h1","output_fields":{}}`, 200},
		{`{"output": "truncated`, 400},
	} {
		resp, err := http.Post("http://"+httpAddr+"/", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		reason, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Fatalf("%s: status %d (%s), want %d", c.body, resp.StatusCode, reason, c.code)
		}
	}
	eventually(t, 5*time.Second, "the Error alert", func() bool { return hook.count() == 1 })
	time.Sleep(200 * time.Millisecond)
	if hook.count() != 1 {
		t.Fatal("the Notice alert passed minimumpriority error")
	}
}
