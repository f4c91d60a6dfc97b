// Package fleet runs one harrier-router and several harrier-sensor
// processes over real gRPC on loopback and rolls rules out to them with
// harrierctl: push, refusal of a broken set, late joiners, rollback, and a
// sensor restarted on its cached set while the router is down.
package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/testkit/poll"
	"github.com/harrier-security/harrier/router/internal/testkit/routerproc"
)

var routerBin, ctlBin, sensorBin string

const (
	adminToken  = "admin-token-0123456789abcdef"
	ingestToken = "ingest-token-0123456789abcdef"
	clientToken = "client-token-0123456789abcdef"
	// A real audit event from Falco's test data (read by path).
	deploymentEvent = "../../../../shared/testdata/falco/k8s_audit/create_deployment.json"
)

func TestMain(m *testing.M) {
	routerproc.Main(m, "harrier-fleet-e2e", []string{"-ldflags", "-X github.com/harrier-security/harrier/proto/buildinfo.version=9.9.9-e2e"},
		routerproc.Target{Pkg: "../../cmd/harrier-router", Path: &routerBin},
		routerproc.Target{Pkg: "../../cmd/harrierctl", Path: &ctlBin},
		routerproc.Target{Pkg: "../../../sensor/cmd/harrier-sensor", Path: &sensorBin})
}

// proc is a daemon process with its combined output captured.
type proc struct{ *routerproc.Proc }

func start(t *testing.T, name string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{routerproc.Start(t, bin, args...)}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, tail(p.logs(), 40))
		}
	})
	return p
}

func (p *proc) logs() string { return p.Logs() }
func (p *proc) stop()        { p.Terminate() }

var (
	freePort = routerproc.FreePort
	tail     = routerproc.Tail
)

type fleetRouter struct {
	*proc
	grpc, http, metrics, alerts string
}

func startRouter(t *testing.T, dir string) *fleetRouter {
	t.Helper()
	r := &fleetRouter{grpc: freePort(t), http: freePort(t), metrics: freePort(t), alerts: filepath.Join(dir, "alerts.jsonl")}
	cfg := filepath.Join(dir, "router.yaml")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `data_dir: %s
grpc:
  address: %q
  ingest_tokens: [%s]
  client_tokens: [%s]
  admin_tokens: [%s]
http: {address: %q, metrics_address: %q}
log: {level: info, format: json}
shutdown_timeout: 5s
outputs:
  file:
    archive: {path: %s}
`, filepath.Join(dir, "data"), r.grpc, ingestToken, clientToken, adminToken, r.http, r.metrics, r.alerts), 0o600); err != nil {
		t.Fatal(err)
	}
	r.proc = start(t, "router", routerBin, "run", "--config", cfg)
	r.WaitHealthy(t, r.metrics, 15*time.Second)
	return r
}

// alertCount counts alerts of rule from hostname in the router's file.
func (r *fleetRouter) alertCount(rule, hostname string) int {
	data, _ := os.ReadFile(r.alerts)
	n := 0
	for _, line := range bytes.Split(data, []byte("\n")) {
		var a struct {
			Rule     string `json:"rule"`
			Hostname string `json:"hostname"`
		}
		if json.Unmarshal(line, &a) == nil && a.Rule == rule && a.Hostname == hostname {
			n++
		}
	}
	return n
}

type fleetSensor struct {
	*proc
	name, dir, webhook string
	args               []string
}

// sensorArgs configures a sensor: central rules on, alerts to the router,
// audit webhook on loopback; syscall capture only when ebpf.
func sensorArgs(t *testing.T, name, dir, routerAddr, localRules string, ebpf bool) (webhook string, args []string) {
	t.Helper()
	cfg := filepath.Join(dir, "sensor.yaml")
	if err := os.WriteFile(cfg, []byte("log: {level: info, format: json}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	webhook = freePort(t)
	args = []string{"run", "-c", cfg,
		"-o", "hostname=" + name, "-o", "sensor_id=" + name,
		"-o", "rules.files=" + localRules, "-o", "rules.watch=false", "-o", "rules.rule_matching=all",
		"-o", "rules.central=true", "-o", "rules.central_cache=" + filepath.Join(dir, "cache", "central-rules.pb"),
		"-o", fmt.Sprintf("sources.syscall.enabled=%v", ebpf),
		"-o", "sources.k8s_audit.listen=" + webhook, "-o", "sources.k8s_audit.workers=1",
		"-o", "outputs.stdout.enabled=true", "-o", "outputs.stdout.format=json",
		"-o", "outputs.grpc.enabled=true", "-o", "outputs.grpc.address=" + routerAddr,
		"-o", "outputs.grpc.token=" + ingestToken, "-o", "outputs.grpc.insecure_token=true",
		"-o", "outputs.grpc.linger=1ms", "-o", "outputs.grpc.report_interval=200ms",
		"-o", "outputs.grpc.spool.dir=" + filepath.Join(dir, "spool"),
		"-o", "metrics.enabled=false",
	}
	return webhook, args
}

func startSensor(t *testing.T, name, base, routerAddr, localRules string, ebpf bool) *fleetSensor {
	t.Helper()
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &fleetSensor{name: name, dir: dir}
	s.webhook, s.args = sensorArgs(t, name, dir, routerAddr, localRules, ebpf)
	s.run(t)
	return s
}

func (s *fleetSensor) run(t *testing.T) {
	t.Helper()
	s.proc = start(t, s.name, sensorBin, s.args...)
	poll.Until(t, 60*time.Second, s.name+" running", func() bool {
		select {
		case <-s.Exited():
			t.Fatalf("%s exited:\n%s", s.name, tail(s.logs(), 30))
		default:
		}
		return strings.Contains(s.logs(), "harrier-sensor running")
	})
}

// postAudit sends a real audit event to the sensor's webhook.
func (s *fleetSensor) postAudit(t *testing.T) {
	t.Helper()
	body, err := os.ReadFile(deploymentEvent)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.webhook+"/k8s_audit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s webhook: %s", s.name, resp.Status)
	}
}

// ctl runs harrierctl against the router.
func ctl(t *testing.T, r *fleetRouter, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	full := append([]string{args[0]}, args[1:]...)
	cmd := exec.Command(ctlBin, full...)
	cmd.Env = append(os.Environ(), "HARRIER_ROUTER_ADDR="+r.grpc, "HARRIER_TOKEN="+token, "USER=e2e-admin")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func rulesStatus(t *testing.T, r *fleetRouter) *harrierv1.RulesStatusResponse {
	t.Helper()
	out, errOut, code := ctl(t, r, clientToken, "rules", "status", "-o", "json")
	if code != 0 {
		t.Fatalf("rules status: %d %s", code, errOut)
	}
	st := &harrierv1.RulesStatusResponse{}
	if err := protojson.Unmarshal([]byte(out), st); err != nil {
		t.Fatalf("rules status json: %v\n%s", err, out)
	}
	return st
}

// running maps sensor id to the report of each connected sensor.
func running(t *testing.T, r *fleetRouter) map[string]*harrierv1.SensorReport {
	out := map[string]*harrierv1.SensorReport{}
	for _, s := range rulesStatus(t, r).GetSensors() {
		if s.GetConnected() {
			out[s.GetReport().GetSensorId()] = s.GetReport()
		}
	}
	return out
}

func waitRevision(t *testing.T, r *fleetRouter, names []string, rev uint64, digest string) {
	t.Helper()
	poll.Until(t, 30*time.Second, fmt.Sprintf("%v to run revision %d (%s)", names, rev, digest), func() bool {
		reps := running(t, r)
		for _, n := range names {
			rep := reps[n]
			if rep == nil || rep.GetRulesetRevision() != rev || rep.GetRulesetVersion() != digest {
				return false
			}
		}
		return true
	})
}

func writeRules(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	localRules = `- rule: Local deployment rule
  desc: the sensors' own rules before any push
  condition: ka.verb = create and ka.target.resource = deployments
  output: local %ka.target.name
  priority: NOTICE
  source: k8s_audit
`
	v1Rules = `- rule: Fleet v1 deployment rule
  desc: in every central revision
  condition: ka.verb = create and ka.target.resource = deployments
  output: v1 %ka.target.name
  priority: WARNING
  source: k8s_audit
`
	v2Rules = `- rule: Fleet v2 deployment rule
  desc: only in revision 2
  condition: ka.verb = create and ka.target.resource = deployments
  output: v2 %ka.target.name
  priority: WARNING
  source: k8s_audit

- rule: Fleet v2 exec probe
  desc: only in revision 2, seen by the eBPF sensor
  condition: evt.type in (execve, execveat) and proc.cmdline contains "harrier-fleet-probe-v2"
  output: probe %proc.cmdline
  priority: WARNING
`
	// The unknown field sits on line 3, column 42 of broken.yaml.
	brokenRules = `- rule: Broken rule
  desc: refers to a field no source has
  condition: ka.verb = create and ka.nosuch = x
  output: never
  priority: WARNING
  source: k8s_audit
`
)

func TestFleetRulesRollout(t *testing.T) {
	ebpf := os.Geteuid() == 0
	if !ebpf {
		if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
			t.Fatal("the eBPF sensor needs root (HARRIER_REQUIRE_ALL=1)")
		}
		t.Log("not root: the third sensor runs without eBPF capture")
	}
	if _, err := os.Stat(deploymentEvent); err != nil {
		if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
			t.Fatal(err)
		}
		t.Skip("needs ../shared/testdata:", err)
	}
	base := t.TempDir()
	r := startRouter(t, filepath.Join(base, "router"))
	local := writeRules(t, filepath.Join(base, "local"), map[string]string{"local.yaml": localRules})
	v1 := writeRules(t, filepath.Join(base, "v1"), map[string]string{"10-base.yaml": v1Rules})
	v2 := writeRules(t, filepath.Join(base, "v2"), map[string]string{"10-base.yaml": v1Rules, "20-v2.yaml": v2Rules})
	broken := writeRules(t, filepath.Join(base, "broken"), map[string]string{"10-base.yaml": v1Rules, "broken.yaml": brokenRules})

	s1 := startSensor(t, "s1", base, r.grpc, local, false)
	s2 := startSensor(t, "s2", base, r.grpc, local, false)
	s3 := startSensor(t, "s3", base, r.grpc, local, ebpf)
	all := []*fleetSensor{s1, s2, s3}
	names := []string{"s1", "s2", "s3"}
	waitRevision(t, r, names, 0, running(t, r)["s1"].GetRulesetVersion()) // connected, local rules

	// Pushing takes an admin token: the ingest and client tokens are refused.
	for _, tok := range []string{ingestToken, clientToken} {
		if _, errOut, code := ctl(t, r, tok, "rules", "push", v1); code == 0 || !strings.Contains(errOut, "Unauthenticated") {
			t.Fatalf("push with a non-admin token: code %d, %s", code, errOut)
		}
	}

	// Revision 1 reaches every sensor.
	out, errOut, code := ctl(t, r, adminToken, "rules", "push", "-m", "first rollout", v1)
	if code != 0 {
		t.Fatalf("push v1: %d %s", code, errOut)
	}
	if !strings.Contains(out, "revision 1") {
		t.Fatalf("push v1 output: %s", out)
	}
	d1 := rulesStatus(t, r).GetCurrent().GetDigest()
	waitRevision(t, r, names, 1, d1)

	// Revision 2: a rule only in it fires on every sensor; pids unchanged
	// (hot swap, no restart).
	pids := map[string]int{}
	for _, s := range all {
		pids[s.name] = s.Pid()
	}
	if _, errOut, code := ctl(t, r, adminToken, "rules", "push", "-m", "add v2 rules", v2); code != 0 {
		t.Fatalf("push v2: %d %s", code, errOut)
	}
	d2 := rulesStatus(t, r).GetCurrent().GetDigest()
	if d2 == d1 {
		t.Fatal("revision 2 has revision 1's digest")
	}
	waitRevision(t, r, names, 2, d2)
	for _, s := range all {
		if s.Pid() != pids[s.name] || strings.Count(s.logs(), "harrier-sensor running") != 1 {
			t.Fatalf("%s restarted", s.name)
		}
		s.postAudit(t)
	}
	for _, s := range all {
		poll.Until(t, 30*time.Second, s.name+"'s v2 alert at the router", func() bool {
			return r.alertCount("Fleet v2 deployment rule", s.name) == 1
		})
	}
	if ebpf {
		if err := exec.Command("/bin/sh", "-c", "true harrier-fleet-probe-v2").Run(); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, 30*time.Second, "the eBPF sensor's v2 exec probe alert", func() bool {
			return r.alertCount("Fleet v2 exec probe", "s3") >= 1
		})
	}

	// A broken rule is refused at the router with FILE:LINE:COL; nothing
	// changes on the sensors.
	_, errOut, code = ctl(t, r, adminToken, "rules", "push", broken)
	if code == 0 || !strings.Contains(errOut, "broken.yaml:3:") || !strings.Contains(errOut, "InvalidArgument") {
		t.Fatalf("broken push: code %d, stderr %s", code, errOut)
	}
	st := rulesStatus(t, r)
	if st.GetCurrent().GetRevision() != 2 {
		t.Fatalf("after the refused push the current revision is %d", st.GetCurrent().GetRevision())
	}
	for _, rep := range running(t, r) {
		if rep.GetRulesetRevision() != 2 || rep.GetLastError() != "" {
			t.Fatalf("sensor %s changed after a refused push: %v", rep.GetSensorId(), rep)
		}
	}

	// A sensor connecting after the push gets revision 2.
	s4 := startSensor(t, "s4", base, r.grpc, local, false)
	all, names = append(all, s4), append(names, "s4")
	waitRevision(t, r, []string{"s4"}, 2, d2)

	// Rollback restores revision 1's files on all of them, as revision 3.
	out, errOut, code = ctl(t, r, adminToken, "rules", "rollback")
	if code != 0 || !strings.Contains(out, "revision 3") {
		t.Fatalf("rollback: %d %s %s", code, out, errOut)
	}
	waitRevision(t, r, names, 3, d1)
	for _, s := range all {
		before := r.alertCount("Fleet v1 deployment rule", s.name)
		s.postAudit(t)
		poll.Until(t, 30*time.Second, s.name+"'s v1 alert after the rollback", func() bool {
			return r.alertCount("Fleet v1 deployment rule", s.name) == before+1
		})
		// The v2 rule fired in the same batch as the v1 one if it still ran.
		if n := r.alertCount("Fleet v2 deployment rule", s.name); n > 1 {
			t.Fatalf("%s still runs the v2 rule after the rollback (%d alerts)", s.name, n)
		}
	}

	// The router's log audits every push with who and what, never a token.
	logs := r.logs()
	for _, want := range []string{`"msg":"audit: rules pushed"`, `"user":"e2e-admin"`, `"msg":"audit: rules rolled back"`, `"msg":"audit: rules push refused"`, "broken.yaml"} {
		if !strings.Contains(logs, want) {
			t.Errorf("router log lacks %s", want)
		}
	}
	if strings.Contains(logs, adminToken) {
		t.Error("the router logged the admin token")
	}
	sensorsOut, _, code := ctl(t, r, clientToken, "sensors")
	if code != 0 || !strings.Contains(sensorsOut, "s4") || !strings.Contains(sensorsOut, "9.9.9-e2e") {
		t.Fatalf("harrierctl sensors: %d\n%s", code, sensorsOut)
	}

	// With the router down, a restarted sensor runs the cached set.
	r.stop()
	s1.stop()
	s1.run(t)
	if !strings.Contains(s1.logs(), `"ruleset":"`+d1+`"`) {
		t.Fatalf("s1 restarted without the cached revision %s:\n%s", d1, tail(s1.logs(), 20))
	}
	s1.postAudit(t)
	poll.Until(t, 30*time.Second, "the restarted sensor's alert from the cached set", func() bool {
		return strings.Contains(s1.logs(), `"rule":"Fleet v1 deployment rule"`)
	})
	if strings.Contains(s1.logs(), `"rule":"Local deployment rule"`) {
		t.Fatal("the restarted sensor ran its local rules")
	}
}
