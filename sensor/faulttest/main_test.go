// Package faulttest runs the built harrier-sensor under faults: SIGKILL
// right after the audit webhook acknowledged events, and hostile
// concurrent bodies against its memory ceiling. It needs no root.
package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/sensor/internal/testkit/sensorproc"
)

var binary string

func TestMain(m *testing.M) {
	sensorproc.Main(m, "harrier-faulttest-", "../cmd/harrier-sensor", &binary)
}

// ruleEvery fires for every audit event and names it in the output.
const ruleEvery = `
- rule: Every audit event
  desc: every event (fault test)
  condition: ka.verb exists
  output: "event id=%ka.auditid"
  priority: WARNING
  source: k8s_audit
`

// writeConfig is a k8s_audit-only sensor delivering to routerAddr
// through a spool in dir; extra is appended YAML under sources.k8s_audit.
func writeConfig(t *testing.T, dir, routerAddr, webhookAddr, extra string) string {
	t.Helper()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(ruleEvery), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "sensor.yaml")
	cfg := fmt.Sprintf(`
rules:
  files: [%s]
  watch: false
sources:
  syscall:
    enabled: false
  k8s_audit:
    listen: %s
%s
metrics:
  listen: 127.0.0.1:0
outputs:
  stdout:
    enabled: false
  grpc:
    enabled: true
    address: %s
    spool:
      dir: %s
`, rules, webhookAddr, extra, routerAddr, filepath.Join(dir, "spool"))
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sensor is a running harrier-sensor process.
type sensor struct {
	*sensorproc.Proc
	// webhook and metrics are the bound addresses from the "running" line.
	webhook, metrics string
}

func start(t *testing.T, cfgFile string) *sensor {
	t.Helper()
	p, running := sensorproc.Start(t, binary, "fault-node", "run", "-c", cfgFile, "-o", "log.format=json")
	s := &sensor{Proc: p}
	s.webhook, _ = running["k8s_audit"].(string)
	s.metrics, _ = running["metrics"].(string)
	return s
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
