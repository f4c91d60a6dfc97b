// Package faulttest runs the built harrier-sensor under faults: SIGKILL
// right after the audit webhook acknowledged events, and hostile
// concurrent bodies against its memory ceiling. It needs no root.
package faulttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "harrier-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "harrier-sensor")
	build := exec.Command("go", "build", "-o", binary, "../cmd/harrier-sensor")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building harrier-sensor:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
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
	cmd    *exec.Cmd
	mu     sync.Mutex
	logs   []string
	exited chan error
	// webhook and metrics are the bound addresses from the "running" line.
	webhook, metrics string
}

func start(t *testing.T, cfgFile string) *sensor {
	t.Helper()
	cmd := exec.Command(binary, "run", "-c", cfgFile, "-o", "log.format=json")
	cmd.Env = append(os.Environ(), "HARRIER_HOSTNAME=fault-node")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &sensor{cmd: cmd, exited: make(chan error, 1)}
	running := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.logs = append(s.logs, sc.Text())
			s.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "harrier-sensor running" {
				running <- m
			}
		}
		s.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	select {
	case m := <-running:
		s.webhook, _ = m["k8s_audit"].(string)
		s.metrics, _ = m["metrics"].(string)
		return s
	case err := <-s.exited:
		t.Fatalf("harrier-sensor exited at start (%v):\n%s", err, s.logText())
	case <-time.After(30 * time.Second):
		t.Fatalf("harrier-sensor did not start:\n%s", s.logText())
	}
	return nil
}

func (s *sensor) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.logs, "\n")
}

func (s *sensor) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("harrier-sensor did not die on SIGKILL")
	}
}

func (s *sensor) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err != nil {
			t.Errorf("harrier-sensor exited with %v after SIGTERM:\n%s", err, s.logText())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("harrier-sensor did not stop on SIGTERM")
	}
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
