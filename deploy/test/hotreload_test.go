package deploytest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The chart promises that editing a rules ConfigMap reaches running
// sensors without a restart. kubelet updates a ConfigMap volume the way
// its AtomicWriter does: the files are symlinks through "..data" to a
// timestamped directory, and an update writes a new directory and swaps
// the "..data" symlink by rename; the visible *.yaml names never change.
// This test does exactly that under a real harrier-sensor and waits for
// the reload.
func TestSensorReloadsConfigMapRules(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-sensor; skipped with -short")
	}
	bin := buildCommand(t, "sensor", "harrier-sensor")
	if out, _ := exec.Command(bin, "run", "-h").CombinedOutput(); !strings.Contains(string(out), "-check") {
		missing(t, fmt.Sprintf("this checkout's harrier-sensor has no run command yet:\n%s", out))
	}
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules.d")
	rules := string(readFile(t, filepath.Join(repoRoot(t), "rules", "k8s_audit.yaml")))
	atomicWrite(t, rulesDir, "..2026_01_01_00_00_00.000000001", map[string]string{"k8s_audit.yaml": rules})

	cfg := filepath.Join(dir, "sensor.yaml")
	if err := os.WriteFile(cfg, []byte("log: {level: info, format: text}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", cfg,
		"-o", "rules.files="+rulesDir,
		"-o", "rules.watch=true",
		"-o", "outputs.grpc.spool.dir="+filepath.Join(dir, "spool"),
		"-o", "sources.syscall.enabled=false",
		"-o", "sources.k8s_audit.listen=127.0.0.1:0",
		"-o", "metrics.listen=127.0.0.1:0")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("sensor log:\n%s", logs.String())
		}
	})
	waitFor(t, logs, "harrier-sensor running", 20*time.Second)

	probe := "\n- rule: Harrier Hot Reload Probe\n  desc: added by the hot reload test\n" +
		"  condition: ka.verb = never-used-verb\n  output: probe\n  priority: DEBUG\n  source: k8s_audit\n"
	reloaded := func(t *testing.T, before int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for strings.Count(logs.String(), "rules reloaded") == before {
			if time.Now().After(deadline) {
				t.Fatal("the ConfigMap update did not reload the rules within 15s")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Edits as kubelet applies them. A file added to the ConfigMap shows
	// up as a new *.yaml symlink.
	t.Run("file added", func(t *testing.T) {
		n := strings.Count(logs.String(), "rules reloaded")
		atomicWrite(t, rulesDir, "..2026_01_01_00_01_00.000000002", map[string]string{"k8s_audit.yaml": rules, "zz-site.yaml": probe})
		reloaded(t, n)
	})
	// A file whose content changes keeps its name: only ..data moves.
	t.Run("file edited", func(t *testing.T) {
		n := strings.Count(logs.String(), "rules reloaded")
		atomicWrite(t, rulesDir, "..2026_01_01_00_02_00.000000003", map[string]string{"k8s_audit.yaml": rules + probe, "zz-site.yaml": probe})
		reloaded(t, n)
	})
}

// atomicWrite lays out files in dir as kubelet's AtomicWriter does.
func atomicWrite(t *testing.T, dir, version string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, version), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, version, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	if err := os.Symlink(version, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" && old != version {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, logs *syncBuffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the sensor's log within %v", want, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The router watches router.yaml; mounted from a ConfigMap, an edit arrives
// as kubelet's ..data swap and must be applied in place.
func TestRouterReloadsConfigMapConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds harrier-router; skipped with -short")
	}
	bin := buildCommand(t, "router", "harrier-router")
	dir := t.TempDir()
	cfgDir := filepath.Join(dir, "config")
	metrics := freeAddr(t)
	base := "data_dir: " + filepath.Join(dir, "data") + "\n" +
		"log: {format: text}\n" +
		"grpc: {address: \"" + freeAddr(t) + "\"}\n" +
		"http: {address: \"" + freeAddr(t) + "\", metrics_address: \"" + metrics + "\"}\n" +
		"outputs:\n  file:\n    a: {path: " + filepath.Join(dir, "a.jsonl") + "}\n"
	atomicWrite(t, cfgDir, "..2026_01_01_00_00_00.000000001", map[string]string{"router.yaml": base})
	cmd := exec.Command(bin, "run", "--config", filepath.Join(cfgDir, "router.yaml"))
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
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
	// Running once /healthz answers; the file watch starts right after.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + metrics + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router /healthz never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	edited := base + "    b: {path: " + filepath.Join(dir, "b.jsonl") + ", minimumpriority: warning}\n"
	atomicWrite(t, cfgDir, "..2026_01_01_00_01_00.000000002", map[string]string{"router.yaml": edited})
	deadline = time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "config reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("the router did not apply router.yaml edited through a ConfigMap swap")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
