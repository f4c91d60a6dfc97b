package deploytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lab README's "trigger an alert" commands work: the example audit
// event fires a Harrier rule, and the example Falco JSON alert is accepted
// by a real harrier-router over HTTP and delivered to an output.

func TestLabAuditExampleFires(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-sensor; skipped with -short")
	}
	bin := buildCommand(t, "sensor", "harrier-sensor")
	out, err := exec.Command(bin, "replay", "-r", filepath.Join(repoRoot(t), "rules", "k8s_audit.yaml"), "-hostname", "lab",
		filepath.Join(repoRoot(t), "deploy", "compose", "examples", "audit-exec.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("harrier-sensor replay: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"rule":"Kubernetes Exec or Attach Into Pod"`) {
		t.Errorf("the lab's audit example fires no exec alert:\n%s", out)
	}
}

func TestLabFalcoExampleRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-router; skipped with -short")
	}
	bin := buildCommand(t, "router", "harrier-router")
	dir := t.TempDir()
	httpAddr, grpcAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	alerts := filepath.Join(dir, "alerts.jsonl")
	cfg := fmt.Sprintf(`data_dir: %s
grpc: {address: "%s"}
http: {address: "%s", metrics_address: "%s"}
outputs:
  file:
    test: {path: %s, minimumpriority: warning}
`, filepath.Join(dir, "data"), grpcAddr, httpAddr, metricsAddr, alerts)
	cfgPath := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("router log:\n%s", logs.String())
		}
	})

	body := readFile(t, filepath.Join(repoRoot(t), "deploy", "compose", "examples", "falco-alert.json"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Post("http://"+httpAddr+"/", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("POST the lab's Falco example: %s", resp.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router never listened on %s: %v", httpAddr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		b, _ := os.ReadFile(alerts)
		if bytes.Contains(b, []byte("Harrier Lab Test Alert")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example alert never reached the file output; file holds:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
