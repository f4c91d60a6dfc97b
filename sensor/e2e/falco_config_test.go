package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
)

// sharedPath finds a file of the shared test data by walking up from the
// package directory (worktrees sit one level deeper than the main tree).
func sharedPath(t *testing.T, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
				t.Fatalf("shared/%s not found above %s", rel, dir)
			}
			t.Skipf("shared/%s not found above %s", rel, dir)
		}
	}
}

// edit replaces old by new in s exactly once, as a user editing the file.
func edit(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("falco.yaml edit: %q occurs %d times, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// TestFalcoYAMLToRouter is a Falco user switching: Falco's own default
// falco.yaml with the edits the project's users make (the webserver for
// the audit webhook on a port of ours, json_output, http_output to the
// collector — here a real harrier-router), Falco's command line
// (harrier-sensor -c falco.yaml -r RULES) and Falco's own rules files. A
// syscall alert (real eBPF) and an audit alert must reach the router's
// HTTP ingest as Falco JSON, and /healthz answers as Falco's does.
func TestFalcoYAMLToRouter(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
			t.Fatal("needs root for the eBPF syscall source")
		}
		t.Skip("needs root for the eBPF syscall source")
	}
	falcoYAML := sharedPath(t, "testdata/falco/config/falco.yaml")
	rulesDir := sharedPath(t, "testdata/falco/rules")

	// The router, on its defaults, with Falco's http_output listener.
	rt := startRouter(t)
	httpAddr, routerMetrics, routerLog := rt.http, rt.metrics, rt.log
	pollUntil(t, 30*time.Second, "router /ping", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, routerLog.String)

	// Falco's falco.yaml with the seeds' edits, as a user makes them.
	raw, err := os.ReadFile(falcoYAML)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(freeAddr(t))
	y := string(raw)
	y = edit(t, y, "json_output: false\n", "json_output: true\n")
	y = edit(t, y, "json_include_output_property: true\n", "json_include_output_property: true\n")
	y = edit(t, y, "HTTP endpoint or webhook.\n  enabled: false\n", "HTTP endpoint or webhook.\n  enabled: true\n")
	y = edit(t, y, "  url: \"\"\n", "  url: \"http://"+httpAddr+"/\"\n")
	y = edit(t, y, "  listen_port: 8765\n", "  listen_port: "+port+"\n  k8s_audit_endpoint: /k8s_audit\n")
	y = edit(t, y, "  listen_address: 0.0.0.0\n", "  listen_address: 127.0.0.1\n")
	cfgFile := filepath.Join(t.TempDir(), "falco.yaml")
	if err := os.WriteFile(cfgFile, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}

	s, running := startSensorArgs(t, "-c", cfgFile,
		"-r", filepath.Join(rulesDir, "falco_rules.yaml"), "-r", filepath.Join(rulesDir, "k8s_audit_rules.yaml"),
		"-o", "log.format=json")
	defer s.Stop(t)
	webserver := running["k8s_audit"].(string)
	if webserver != "127.0.0.1:"+port {
		t.Fatalf("webserver on %q, want the configured 127.0.0.1:%s", webserver, port)
	}
	if running["router"] != false {
		t.Errorf("the gRPC router stream is on under a falco.yaml: %v", running)
	}

	// Falco's /healthz.
	resp, err := http.Get("http://" + webserver + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !json.Valid(body) || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}

	// The audit alert: kube-apiserver's webhook POST to the edited endpoint.
	resp, err = http.Post("http://"+webserver+"/k8s_audit", "application/json", bytes.NewReader(auditEventList(t, "exec_pod.json")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit webhook answered %d", resp.StatusCode)
	}

	want := map[string]string{"Attach/Exec Pod": "k8s_audit", "Read sensitive file untrusted": "syscall"}
	file := rt.alerts
	var got map[string][2]string
	pollUntil(t, 45*time.Second, "both alerts at the router", func() bool {
		_ = exec.Command("cat", "/etc/shadow").Run()
		got = routerAlerts(t, file)
		for rule, src := range want {
			if got[rule][0] != src {
				return false
			}
		}
		return true
	}, func() string {
		return "router has " + strings.Join(keys(got), ", ") + "\nrouter log:\n" + routerLog.String() + "\nsensor log:\n" + s.Logs()
	})

	// They came in over HTTP, as Falco JSON (the router's HTTP ingest
	// takes nothing else), and each was posted whole.
	pollUntil(t, 10*time.Second, "router metrics", func() bool {
		resp, err := http.Get("http://" + routerMetrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, `harrier_router_ingested_alerts_total{transport="http"}`) {
				return !strings.HasSuffix(l, " 0") && !strings.HasSuffix(l, " 1")
			}
		}
		return false
	}, routerLog.String)

	// stdout_output under json_output: Falco's JSON, one alert per line,
	// with the properties json_include_* ask for.
	seen := map[string]bool{}
	for _, line := range strings.Split(s.Stdout(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		a, err := falcojson.Unmarshal([]byte(line))
		if err != nil {
			t.Fatalf("stdout line is not Falco JSON: %v\n%s", err, line)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(line), &m)
		for _, k := range []string{"output", "output_fields", "tags", "priority", "rule", "time", "source", "hostname"} {
			if _, ok := m[k]; !ok {
				t.Errorf("stdout alert lacks %q: %s", k, line)
			}
		}
		if _, ok := m["message"]; ok {
			t.Errorf("json_include_message_property is false but the alert has a message: %s", line)
		}
		seen[a.GetRule()] = true
	}
	for rule := range want {
		if !seen[rule] {
			t.Errorf("stdout_output did not print %q", rule)
		}
	}
}

func keys(m map[string][2]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// pollUntil polls cond until it holds or the deadline passes.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, detail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
