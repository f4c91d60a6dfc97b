// Package e2e runs the harrier-sensor binary as an operator would and checks
// what reaches a real gRPC router peer.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/ship/transport/transporttest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/audittest"
	"github.com/harrier-security/harrier/sensor/internal/testkit/require"
	"github.com/harrier-security/harrier/sensor/internal/testkit/sensorproc"
)

var binary string

func TestMain(m *testing.M) {
	sensorproc.Main(m, "harrier-e2e-", "../cmd/harrier-sensor", &binary)
}

const (
	repoRules   = "../../rules"
	sharedAudit = "../../../shared/testdata/falco/k8s_audit"
)

// sensor is a running harrier-sensor process.
type sensor struct{ *sensorproc.Proc }

// startSensor runs the binary with JSON logs and waits for its "running"
// line, which names the addresses it bound.
func startSensor(t *testing.T, args ...string) (*sensor, map[string]any) {
	t.Helper()
	return startSensorWith(t, writeConfig(t), args...)
}

// startSensorWith is startSensor with a given configuration file.
func startSensorWith(t *testing.T, cfgFile string, args ...string) (*sensor, map[string]any) {
	t.Helper()
	return startSensorArgs(t, append([]string{"run", "-c", cfgFile, "-o", "log.format=json"}, args...)...)
}

// startSensorArgs runs the binary with exactly args (which should ask for
// JSON logs) and waits for its "running" line.
func startSensorArgs(t *testing.T, args ...string) (*sensor, map[string]any) {
	t.Helper()
	p, running := sensorproc.Start(t, binary, "e2e-node", args...)
	return &sensor{p}, running
}

func writeConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// The unprivileged-user test reads it too.
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(filepath.Dir(dir), 0o755)
	p := filepath.Join(dir, "sensor.yaml")
	cfg := fmt.Sprintf(`
rules:
  files: [%s]
sources:
  k8s_audit:
    listen: 127.0.0.1:0
metrics:
  listen: 127.0.0.1:0
outputs:
  grpc:
    spool:
      dir: %s
`, repoRules, filepath.Join(dir, "spool"))
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func auditEventList(t *testing.T, file string) []byte {
	t.Helper()
	p := sharedPath(t, filepath.Join("testdata/falco/k8s_audit", file))
	if _, err := os.Stat(p); err != nil {
		require.Missing(t, fmt.Sprintf("Falco's audit files are not at %s: %v", sharedAudit, err))
	}
	return audittest.EventList(audittest.Lines(t, p))
}

func waitForRule(t *testing.T, store *transporttest.Store, rule string, timeout time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, a := range store.Alerts() {
			if a.GetRule() == rule {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestAuditAlertReachesRouter: the k8s_audit source of the real binary, a
// curl-like POST, the alert at a gRPC receiver and on stdout.
func TestAuditAlertReachesRouter(t *testing.T) {
	body := auditEventList(t, "create_nginx_pod_privileged.json")
	rcv, store := transporttest.Run(t, transporttest.Options{})
	s, running := startSensor(t,
		"-o", "sources.syscall.enabled=false",
		"-o", "outputs.grpc.enabled=true",
		"-o", "outputs.grpc.address="+rcv.Addr,
		"-o", "outputs.stdout.format=json")
	hook := running["k8s_audit"].(string)
	resp, err := http.Post("http://"+hook+"/k8s_audit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
	if !waitForRule(t, store, "Kubernetes Privileged Pod Created", 10*time.Second) {
		var got []string
		for _, a := range store.Alerts() {
			got = append(got, a.GetRule())
		}
		t.Fatalf("no privileged-pod alert at the router; got %v\n%s", got, s.Logs())
	}
	for _, a := range store.Alerts() {
		if a.GetHostname() != "e2e-node" || a.GetSource() != "k8s_audit" {
			t.Fatalf("alert metadata: %v", a)
		}
	}
	if !strings.Contains(s.Stdout(), `"source":"k8s_audit"`) {
		t.Fatalf("stdout (json) has no alert: %q", s.Stdout())
	}
	metrics := running["metrics"].(string)
	mresp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if !strings.Contains(string(mb), "harrier_sensor_router_alerts_acked_total") {
		t.Fatal("metrics endpoint lacks the router metrics")
	}
	s.Stop(t)
}

// TestSyscallAlertReachesRouter: the eBPF source of the real binary; a
// process reads /etc/shadow and the alert reaches the receiver. Needs root.
func TestSyscallAlertReachesRouter(t *testing.T) {
	require.Root(t, "the syscall source needs root (CAP_BPF, CAP_PERFMON)")
	rcv, store := transporttest.Run(t, transporttest.Options{})
	s, _ := startSensor(t,
		"-o", "sources.k8s_audit.enabled=false",
		"-o", "outputs.grpc.enabled=true",
		"-o", "outputs.grpc.address="+rcv.Addr)
	// The capture is attached once the sensor says it runs.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		_ = exec.Command("cat", "/etc/shadow").Run()
		if waitForRule(t, store, "Sensitive File Read by Untrusted Program", time.Second) {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("no syscall alert reached the router\n%s", s.Logs())
	}
	for _, a := range store.Alerts() {
		if a.GetRule() == "Sensitive File Read by Untrusted Program" {
			if a.GetSource() != "syscall" || !strings.Contains(a.GetOutput(), "/etc/shadow") {
				t.Fatalf("syscall alert: %v", a)
			}
		}
	}
	s.Stop(t)
}

// TestSyscallSourceSaysWhatIsMissing runs the binary as an unprivileged
// user: with the syscall source on it must exit non-zero naming the missing
// privilege; with it off it must run.
func TestSyscallSourceSaysWhatIsMissing(t *testing.T) {
	require.Root(t, "needs root to start the binary as another user")
	cfg := writeConfig(t)
	run := func(extra ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		args := append([]string{"run", "-c", cfg, "-o", "outputs.grpc.enabled=false", "-o", "rules.watch=false"}, extra...)
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("as nobody with the syscall source on: %v\n%s", err, out)
	}
	if !strings.Contains(out, "CAP_BPF") || !strings.Contains(out, "sources.syscall.enabled=false") {
		t.Fatalf("the error does not say what is missing and how to go on:\n%s", out)
	}
	// Bad configuration: exit 2 naming the key.
	out, err = run("-o", "outputs.stdout.format=xml")
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "outputs.stdout.format") {
		t.Fatalf("bad config: %v\n%s", err, out)
	}
}

// TestCheckAndSIGHUP: --check validates and exits 0; SIGHUP reloads the
// rules of a running sensor (the file watcher is off here).
func TestCheckAndSIGHUP(t *testing.T) {
	out, err := exec.Command(binary, "run", "-c", writeConfig(t), "--check", "-o", "sources.syscall.enabled=false", "-o", "sources.k8s_audit.listen=127.0.0.1:0", "-o", "metrics.enabled=false").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "configuration and rules OK") {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	rule := func(name string) string {
		return fmt.Sprintf("- rule: %s\n  desc: test\n  condition: ka.verb exists\n  output: %s seen %%ka.auditid\n  priority: INFO\n  source: k8s_audit\n", name, name)
	}
	if err := os.WriteFile(rules, []byte(rule("First")), 0o644); err != nil {
		t.Fatal(err)
	}
	s, running := startSensor(t, "-o", "sources.syscall.enabled=false", "-o", "rules.watch=false", "-o", "rules.files="+rules)
	post := func(id string) {
		ev := fmt.Sprintf(`{"kind":"Event","auditID":%q,"verb":"get","stage":"ResponseComplete"}`, id)
		resp, err := http.Post("http://"+running["k8s_audit"].(string)+"/k8s_audit", "application/json", strings.NewReader(ev))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	waitStdout := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(s.Stdout(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("stdout lacks %q:\n%s\n%s", want, s.Stdout(), s.Logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	post("one")
	waitStdout("First seen one")
	if err := os.WriteFile(rules, []byte(rule("Second")), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Logs(), "rules reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload after SIGHUP:\n%s", s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	post("two")
	waitStdout("Second seen two")
	if strings.Contains(s.Stdout(), "First seen two") {
		t.Fatal("the replaced rule still fired after SIGHUP")
	}
	s.Stop(t)
}

// TestRouterDownThenSensorRestart: the router is away while alerts are
// raised; the sensor is stopped with SIGTERM and started again once the
// router is back; every alert arrives once.
func TestRouterDownThenSensorRestart(t *testing.T) {
	store := transporttest.NewStore()
	rcv, err := transporttest.Start("127.0.0.1:0", store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := rcv.Addr
	rcv.Kill()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	_ = os.WriteFile(rules, []byte("- rule: Every event\n  desc: test\n  condition: ka.verb exists\n  output: seen %ka.auditid\n  priority: INFO\n  source: k8s_audit\n"), 0o644)
	cfg := writeConfig(t)
	args := []string{"-o", "sources.syscall.enabled=false", "-o", "outputs.grpc.enabled=true", "-o", "outputs.grpc.address=" + addr, "-o", "rules.files=" + rules}
	s, running := startSensorWith(t, cfg, args...)
	const n = 300
	var items []string
	for i := range n {
		items = append(items, fmt.Sprintf(`{"kind":"Event","auditID":"e2e-%04d","verb":"get","stage":"ResponseComplete"}`, i))
	}
	body := `{"kind":"EventList","items":[` + strings.Join(items, ",") + `]}`
	resp, err := http.Post("http://"+running["k8s_audit"].(string)+"/k8s_audit", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	s.Stop(t) // SIGTERM with the router down: the alerts stay in the spool
	if got := strings.Count(s.Stdout(), "seen e2e-"); got != n {
		t.Fatalf("%d of %d alerts raised before exit", got, n)
	}
	rcv, err = transporttest.Start(addr, store, transporttest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Kill()
	s, _ = startSensorWith(t, cfg, args...)
	if !store.WaitUnique(n, 15*time.Second) {
		t.Fatalf("router got %d of %d alerts after the restart\n%s", store.Unique(), n, s.Logs())
	}
	if r := store.Redelivered(); r != 0 {
		t.Fatalf("%d alerts delivered twice", r)
	}
	s.Stop(t)
}
