// Package e2e runs the harrier-router binary as a separate process against
// real HTTP receivers and real gRPC clients: crash safety under SIGKILL,
// outages, live configuration edits, Falco's HTTP JSON.
package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
	"github.com/harrier-security/harrier/router/internal/testkit/sensorstream"
	"github.com/harrier-security/harrier/router/internal/testkit/webhookrecv"
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

func TestSIGKILLMidStreamLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	hook := webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
outputs:
  webhook:
    soc: {address: %s, format: ndjson}
  file:
    archive: {path: %s/alerts.jsonl}
`, hook.URL, dir))
	r := startRouter(t, cfg, grpcAddr, httpAddr)

	s := &sensorstream.Sensor{Addr: grpcAddr, Prefix: "k"}
	stopSensor := s.Start(t, 50, 2*time.Millisecond)

	poll.Until(t, 20*time.Second, "some acked alerts", func() bool { return len(s.Acked()) >= 2000 })
	r.kill() // SIGKILL mid-stream
	killedAt := len(s.Acked())
	time.Sleep(300 * time.Millisecond)
	startRouter(t, cfg, grpcAddr, httpAddr)
	poll.Until(t, 20*time.Second, "the stream to resume", func() bool { return len(s.Acked()) >= killedAt+2000 })
	stopSensor()
	acked := s.Acked()
	poll.Until(t, 30*time.Second, "every acknowledged alert at the webhook", func() bool { return hook.Missing(acked) == 0 })
	poll.Until(t, 30*time.Second, "every acknowledged alert in the file", func() bool {
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
	flaky, steady := webhookrecv.New(t), webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf(`
delivery: {backoff: {initial: 50ms, max: 400ms}}
outputs:
  webhook:
    flaky: {address: %s}
    steady: {address: %s, format: ndjson}
`, flaky.URL, steady.URL))
	startRouter(t, cfg, grpcAddr, httpAddr)
	s := &sensorstream.Sensor{Addr: grpcAddr, Prefix: "o"}
	stopSensor := s.Start(t, 20, 5*time.Millisecond)
	poll.Until(t, 10*time.Second, "traffic", func() bool { return flaky.Unique() > 100 })

	flaky.SetStatus(503)
	outageStart := len(s.Acked())
	time.Sleep(2 * time.Second)
	during := s.Acked()[outageStart:]
	// The healthy webhook kept up during the outage.
	poll.Until(t, 3*time.Second, "steady output current during the outage", func() bool { return steady.Missing(during) == 0 })
	if flaky.Missing(during) == 0 {
		t.Fatal("the failing webhook received alerts during its outage")
	}
	flaky.SetStatus(0)
	time.Sleep(500 * time.Millisecond)
	stopSensor()
	acked := s.Acked()
	poll.Until(t, 20*time.Second, "the recovered webhook has everything", func() bool { return flaky.Missing(acked) == 0 })
	if steady.Missing(acked) != 0 {
		t.Fatal("steady webhook lost alerts")
	}
	t.Logf("%d alerts, %d sent during a 2s outage; all delivered after recovery", len(acked), len(during))
}

func TestConfigEditsApplyAndInvalidEditIsRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := webhookrecv.New(t), webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	data := dir + "/data"
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s}\n", a.URL))
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
	poll.Until(t, 5*time.Second, "a has 1", func() bool { return a.Unique() == 1 })

	// Add a second, named webhook.
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s}\noutputs: {webhook: {b: {address: %s}}}\n", a.URL, b.URL))
	poll.Until(t, 5*time.Second, "reload applied", func() bool { return strings.Contains(r.logs(), "config reloaded") })
	post("two")
	poll.Until(t, 5*time.Second, "a has 2 and b has 1", func() bool { return a.Unique() == 2 && b.Unique() == 1 })

	// An invalid edit is refused with the key named; the old config keeps working.
	writeConfig(t, cfg, data, grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s, minimumpriority: urgent}\n", a.URL))
	poll.Until(t, 5*time.Second, "refusal logged", func() bool {
		return strings.Contains(r.logs(), "config reload refused") && strings.Contains(r.logs(), "webhook.minimumpriority")
	})
	post("three")
	poll.Until(t, 5*time.Second, "both still deliver", func() bool { return a.Unique() == 3 && b.Unique() == 2 })
}

func TestFalcoHTTPPostIsRoutedAndBadJSONRefused(t *testing.T) {
	dir := t.TempDir()
	hook := webhookrecv.New(t)
	cfg := filepath.Join(dir, "router.yaml")
	grpcAddr, httpAddr := freePort(t), freePort(t)
	writeConfig(t, cfg, dir+"/data", grpcAddr, httpAddr, fmt.Sprintf("webhook: {address: %s, minimumpriority: error}\n", hook.URL))
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
	poll.Until(t, 5*time.Second, "the Error alert", func() bool { return hook.Unique() == 1 })
	time.Sleep(200 * time.Millisecond)
	if hook.Unique() != 1 {
		t.Fatal("the Notice alert passed minimumpriority error")
	}
}
