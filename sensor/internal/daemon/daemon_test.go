package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/sensor/internal/config"
	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/audittest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const shared = "../../../../shared/testdata/falco"

func sharedPath(t testing.TB, rel string) string {
	p := filepath.Join(shared, rel)
	if _, err := os.Stat(p); err != nil {
		require.Missing(t, fmt.Sprintf("Falco test data not at %s (it lives beside the repository in the development workspace)", p))
	}
	return p
}

// testConfig is a k8s_audit-only sensor on loopback ports, delivering to
// the router at routerAddr through a spool in a temp dir.
func testConfig(t testing.TB, routerAddr string, rulesFiles ...string) *config.Config {
	t.Helper()
	return testConfigWith(t, routerAddr, rulesFiles, nil)
}

// testConfigWith is testConfig with more -o overrides.
func testConfigWith(t testing.TB, routerAddr string, rulesFiles, extra []string) *config.Config {
	t.Helper()
	overrides := []string{
		"sources.syscall.enabled=false",
		"sources.k8s_audit.listen=127.0.0.1:0",
		"metrics.listen=127.0.0.1:0",
		"outputs.stdout.enabled=false",
		"outputs.grpc.enabled=true",
		"outputs.grpc.address=" + routerAddr,
		"outputs.grpc.spool.dir=" + filepath.Join(t.TempDir(), "spool"),
		"outputs.grpc.linger=1ms",
		"rules.files=" + strings.Join(rulesFiles, ","),
		"hostname=node-1",
	}
	overrides = append(overrides, extra...)
	cfg, err := config.Load(config.Source{File: writeFile(t, "sensor.yaml", "{}"), Overrides: overrides, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type running struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, cfg *config.Config) *running {
	t.Helper()
	d, err := New(cfg, Options{Logger: quiet, Stdout: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !d.ready.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return r
}

func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

func (r *running) post(t testing.TB, body []byte) int {
	t.Helper()
	resp, err := http.Post("http://"+r.d.WebhookAddr()+"/k8s_audit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (r *running) evaluated() int {
	return int(testutil.ToFloat64(r.d.m.evaluatedAudit))
}

func (r *running) waitEvaluated(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.evaluated() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events evaluated, want %d", r.evaluated(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *running) waitDelivered(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.d.sp.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d alerts still in the spool", r.d.sp.Len())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestAuditWebhookToRouterFiresFalcoRules is the k8s_audit path end to end
// over real sockets: Falco's audit files POSTed as EventLists to the
// webhook, Falco's rules files loaded unchanged, alerts delivered over gRPC
// and acknowledged by a receiver.
func TestAuditWebhookToRouterFiresFalcoRules(t *testing.T) {
	k8sRules := sharedPath(t, "rules/k8s_audit_rules.yaml")
	falcoRules := sharedPath(t, "rules/falco_rules.yaml")
	rcv, store := transporttest.Run(t, transporttest.Options{})
	r := start(t, testConfig(t, rcv.Addr, falcoRules, k8sRules))
	defer r.stop(t)

	evaluated, seen := 0, 0
	for file, want := range audittest.ReadmeExpect {
		lines := audittest.Lines(t, sharedPath(t, "k8s_audit/"+file))
		if code := r.post(t, audittest.EventList(lines)); code != 200 {
			t.Fatalf("%s: webhook answered %d", file, code)
		}
		evaluated += len(lines)
		r.waitEvaluated(t, evaluated)
		r.waitDelivered(t)
		all := store.Alerts()
		got := map[string]int{}
		for _, a := range all[seen:] {
			got[a.GetRule()]++
			if a.GetSource() != "k8s_audit" || a.GetHostname() != "node-1" || a.GetId() == "" || a.GetRulesetVersion() != r.d.Ruleset().Version() {
				t.Errorf("%s: alert %v lacks its metadata", file, a)
			}
		}
		seen = len(all)
		if !maps.Equal(got, want) {
			t.Errorf("%s: router received %v, want %v", file, got, want)
		}
	}
	if ids := store.SensorIDs(); !ids["node-1"] {
		t.Errorf("sensor id not sent: %v", ids)
	}
	// The metrics say the same.
	if v := testutil.ToFloat64(r.d.m.alerts.WithLabelValues("Create/Modify Configmap With Private Credentials", "Warning")); v != 6 {
		t.Errorf("alerts metric for the configmap rule = %v, want 6", v)
	}
}

func TestMetricsHealthAndReadiness(t *testing.T) {
	k8sRules := sharedPath(t, "rules/k8s_audit_rules.yaml")
	rcv, _ := transporttest.Run(t, transporttest.Options{})
	r := start(t, testConfig(t, rcv.Addr, k8sRules))
	defer r.stop(t)
	lines := audittest.Lines(t, sharedPath(t, "k8s_audit/create_nginx_pod_privileged.json"))
	r.post(t, audittest.EventList(lines))
	r.post(t, []byte("{broken"))
	r.waitEvaluated(t, len(lines))
	r.waitDelivered(t)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + r.d.MetricsAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
	_, body := get("/metrics")
	for _, want := range []string{
		`harrier_sensor_alerts_total{priority="Warning",rule="Create Privileged Pod"} 1`,
		`harrier_sensor_events_evaluated_total{source="k8s_audit"} 1`,
		`harrier_sensor_webhook_requests_total{code="200"} 1`,
		`harrier_sensor_webhook_requests_total{code="400"} 1`,
		`harrier_sensor_router_connected 1`,
		`harrier_sensor_spool_alerts 0`,
		`harrier_sensor_spool_dropped_total{priority="Debug"} 0`,
		`harrier_sensor_router_alerts_acked_total 1`,
		`harrier_sensor_rules_reloads_total{result="failed"} 0`,
		`harrier_sensor_output_alerts_total{output="grpc"} 1`,
		`harrier_sensor_ruleset_info{version="` + r.d.Ruleset().Version() + `"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

const ruleAny = `
- rule: Any audit event
  desc: every event (test)
  condition: ka.verb exists
  output: "event id=%ka.auditid verb=%ka.verb"
  priority: INFO
  source: k8s_audit
`

const ruleCreate = `
- rule: Create seen
  desc: creations (test)
  condition: ka.verb = create
  output: "create id=%ka.auditid"
  priority: NOTICE
  source: k8s_audit
`

func auditEvent(i int) []byte {
	return fmt.Appendf(nil, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"ev-%06d","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"default","name":"p"},"stageTimestamp":"2026-11-24T12:00:00.000000Z"}`, i)
}

// TestHotReloadWhileEventsFlow changes the rules file while events stream
// in: no event goes unevaluated, the new rule fires on events after the
// swap, and a broken file keeps the running rules.
func TestHotReloadWhileEventsFlow(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{})
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesFile, []byte(ruleAny), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, rcv.Addr, rulesFile)
	cfg.Rules.RuleMatching = "all"
	r := start(t, cfg)
	defer r.stop(t)

	replace := func(body string) {
		tmp := filepath.Join(dir, ".rules.tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesFile); err != nil { // as editors and config management do
			t.Fatal(err)
		}
	}
	reloads := func(result string) float64 { return testutil.ToFloat64(r.d.m.reloads.WithLabelValues(result)) }

	// Events flow until the reload has been seen and 1,000 more were posted
	// (at least 3,000 in all; bounded in case the reload never comes).
	total := 0
	var mu sync.Mutex
	swappedAt := -1 // index of the first event posted after the reload was seen
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < 100_000; i++ {
			total = i + 1
			if i >= 3000 && swappedAt >= 0 && i >= swappedAt+1000 {
				total = i
				break
			}
			if code := r.post(t, auditEvent(i)); code != 200 {
				t.Errorf("event %d: %d", i, code)
			}
			if i == 500 {
				// 200 means queued, not evaluated: let the first 501 events
				// be evaluated under the old rules before the file changes,
				// so the check below (no new-rule alert for them) is sound.
				for r.evaluated() < 501 {
					time.Sleep(time.Millisecond)
				}
				replace(ruleAny + ruleCreate)
			}
			mu.Lock()
			if swappedAt < 0 && reloads("ok") >= 1 {
				swappedAt = i + 1
			}
			mu.Unlock()
		}
	})
	wg.Wait()
	r.waitEvaluated(t, total)
	r.waitDelivered(t)
	if swappedAt < 0 || swappedAt >= total {
		t.Fatalf("reload not seen while events flowed (ok reloads: %v)", reloads("ok"))
	}
	anyIDs, createIDs := map[string]bool{}, map[string]int{}
	for _, a := range store.Alerts() {
		id := strings.Fields(a.GetOutput())
		var ev string
		for _, f := range id {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				ev = v
			}
		}
		switch a.GetRule() {
		case "Any audit event":
			anyIDs[ev] = true
		case "Create seen":
			var n int
			fmt.Sscanf(ev, "ev-%d", &n)
			createIDs[ev] = n
		}
	}
	if len(anyIDs) != total {
		t.Fatalf("the old rule fired for %d of %d events: events were lost across the reload", len(anyIDs), total)
	}
	if len(createIDs) < total-swappedAt {
		t.Fatalf("the new rule fired %d times; at least the %d events after the swap must fire it", len(createIDs), total-swappedAt)
	}
	for ev, n := range createIDs {
		if n <= 500 {
			t.Fatalf("the new rule fired for %s, posted before the file changed", ev)
		}
	}

	// A broken file: the reload fails, the running rules stay.
	replace(ruleAny + ruleCreate + "\n- rule: broken\n  condition: ka.verb = = x\n")
	deadline := time.Now().Add(5 * time.Second)
	for reloads("failed") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("a broken rules file did not count a failed reload")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := len(store.Alerts())
	r.post(t, auditEvent(total))
	r.waitEvaluated(t, total+1)
	r.waitDelivered(t)
	if got := len(store.Alerts()) - before; got != 2 {
		t.Fatalf("after a failed reload one event raised %d alerts, want 2 (both rules still running)", got)
	}
	// SIGHUP's path: an explicit reload of the broken file also fails.
	if err := r.d.Reload(); err == nil {
		t.Fatal("Reload of a broken file succeeded")
	}
}

// TestShutdownKeepsUndeliveredAlertsForTheNextRun: with the router away,
// alerts wait in the spool; a new sensor on the same spool delivers them.
func TestShutdownKeepsUndeliveredAlertsForTheNextRun(t *testing.T) {
	rulesFile := writeFile(t, "rules.yaml", ruleAny)
	store := transporttest.NewStore()
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := rcv.Addr
	rcv.Kill() // the router is down
	cfg := testConfig(t, addr, rulesFile)
	r := start(t, cfg)
	const n = 200
	var lines [][]byte
	for i := range n {
		lines = append(lines, auditEvent(i))
	}
	if code := r.post(t, audittest.EventList(lines)); code != 200 {
		t.Fatalf("post: %d", code)
	}
	r.stop(t) // SIGTERM: the queued events are evaluated, alerts spooled
	if v := r.evaluated(); v != n {
		t.Fatalf("%d of %d accepted events evaluated before exit", v, n)
	}
	rcv, err = transporttest.Start(addr, store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	r = start(t, cfg)
	defer r.stop(t)
	if !store.WaitUnique(n, 10*time.Second) {
		t.Fatalf("router got %d of %d alerts after the restart", store.Unique(), n)
	}
	if store.Redelivered() != 0 {
		t.Fatalf("%d duplicates", store.Redelivered())
	}
	for _, a := range store.Alerts() {
		if a.GetPriority() != harrierv1.Priority_PRIORITY_INFORMATIONAL {
			t.Fatalf("alert changed in the spool: %v", a)
		}
	}
}

func TestBadRulesStopStartup(t *testing.T) {
	bad := writeFile(t, "rules.yaml", "- rule: x\n  condition: ka.nope = 1\n  output: o\n  priority: INFO\n  desc: d\n  source: k8s_audit\n")
	cfg := testConfig(t, "127.0.0.1:1", bad)
	if _, err := New(cfg, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "rules") {
		t.Fatalf("New with a broken rules file: %v", err)
	}
	// The webhook port must be released after the failed start.
	cfg = testConfig(t, "127.0.0.1:1", writeFile(t, "ok.yaml", ruleAny))
	cfg.Sources.K8sAudit.Listen = "127.0.0.1:1" // privileged port
	if os.Geteuid() != 0 {
		if _, err := New(cfg, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "sources.k8s_audit.listen") {
			t.Fatalf("New with an unusable listen address: %v", err)
		}
	}
}

// TestAggregationFoldsAFlood: 50 identical events within the window reach
// the router as the first alert plus one aggregate counting the other 49.
func TestAggregationFoldsAFlood(t *testing.T) {
	rcv, store := transporttest.Run(t, transporttest.Options{})
	cfg := testConfig(t, rcv.Addr, writeFile(t, "rules.yaml", ruleCreate))
	cfg.Aggregation = config.Aggregation{Enabled: true, Window: time.Minute, Rules: []config.AggregationRule{
		{Rule: "Create*", Fields: []string{"ka.verb"}, Window: 500 * time.Millisecond},
	}}
	r := start(t, cfg)
	defer r.stop(t)
	var lines [][]byte
	for i := range 50 {
		lines = append(lines, auditEvent(i))
	}
	r.post(t, audittest.EventList(lines))
	if !store.WaitUnique(2, 10*time.Second) {
		t.Fatalf("router got %d alerts, want 2", store.Unique())
	}
	// Judge once nothing is held or spooled any more (instead of a fixed
	// sleep): a third alert would have reached the router by then.
	for deadline := time.Now().Add(5 * time.Second); r.d.agg.Held() > 0 || r.d.sp.Len() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("aggregation still holds %d alerts, spool %d", r.d.agg.Held(), r.d.sp.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := store.Alerts()
	if len(got) != 2 || got[0].GetCount() != 0 || got[1].GetCount() != 49 {
		t.Fatalf("alerts %d; counts %d/%d, want the first and an aggregate of 49", len(got), got[0].GetCount(), got[len(got)-1].GetCount())
	}
	if got[1].GetFirstTime() == nil || got[1].GetLastTime() == nil {
		t.Fatal("aggregate without first/last time")
	}
}

func TestRuleSelectionFromConfig(t *testing.T) {
	rules := writeFile(t, "rules.yaml", ruleAny+"  tags: [noisy]\n"+ruleCreate+"  tags: [important]\n")
	cases := []struct {
		name    string
		extra   []string
		enabled []string
	}{
		{"all", nil, []string{"Any audit event", "Create seen"}},
		{"by tag", []string{"rules.select=[{disable: {tag: noisy}}]"}, []string{"Create seen"}},
		{"by name glob", []string{"rules.select=[{disable: {rule: '*'}}, {enable: {rule: 'Any*'}}]"}, []string{"Any audit event"}},
		{"by priority", []string{"rules.priority=notice"}, []string{"Create seen"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfigWith(t, "127.0.0.1:1", []string{rules}, c.extra)
			d, err := New(cfg, Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var got []string
			for _, r := range d.Ruleset().Rules() {
				if r.Enabled {
					got = append(got, r.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(c.enabled, ",") {
				t.Fatalf("enabled %v, want %v", got, c.enabled)
			}
		})
	}
	cfg := testConfigWith(t, "127.0.0.1:1", []string{rules}, []string{"rules.select=[{enable: {rule: 'No such rule'}}]"})
	if _, err := New(cfg, Options{Logger: quiet}); err == nil || !strings.Contains(err.Error(), "rules.select") {
		t.Fatalf("a selection naming no rule: %v", err)
	}
}

// TestReloadOnConfigMapSwap updates the rules the way the kubelet updates a
// mounted ConfigMap: the file name is a symlink through "..data", and only
// "..data" is swapped to a new timestamped directory.
func TestReloadOnConfigMapSwap(t *testing.T) {
	rcv, _ := transporttest.Run(t, transporttest.Options{})
	dir := t.TempDir()
	version := func(name, body string) {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "rules.yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_11_24_12_00_00.1", ruleAny)
	if err := os.Symlink("..data/rules.yaml", filepath.Join(dir, "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, rulesPath := range []string{filepath.Join(dir, "rules.yaml"), dir} {
		t.Run(filepath.Base(rulesPath), func(t *testing.T) {
			r := start(t, testConfig(t, rcv.Addr, rulesPath))
			defer r.stop(t)
			reloads := func() float64 { return testutil.ToFloat64(r.d.m.reloads.WithLabelValues("ok")) }
			before := reloads()
			version("..2026_11_24_12_00_0"+fmt.Sprint(len(rulesPath)%10)+".2", ruleAny+ruleCreate)
			deadline := time.Now().Add(5 * time.Second)
			for reloads() <= before {
				if time.Now().After(deadline) {
					t.Fatal("a ConfigMap-style swap of ..data did not reload the rules")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
