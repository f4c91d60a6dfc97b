package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/sensor/internal/testkit/livetest"
	sb "github.com/harrier-security/harrier/sensor/internal/testkit/scapbuild"
)

// shared finds a file of the shared Falco test data (../shared/testdata/falco
// of the workspace) by walking up from the package directory, so that it
// is found from a worktree too.
func shared(t *testing.T, rel string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "shared", "testdata", "falco", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if filepath.Dir(d) == d {
			if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
				t.Fatalf("shared/testdata/falco/%s not found", rel)
			}
			t.Skipf("shared/testdata/falco/%s not found", rel)
		}
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = dispatch(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// scapFile writes the scapbuild scenario: bash forks, execs cat, which
// reads /etc/shadow and connects out.
func scapFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow.scap")
	if err := os.WriteFile(p, sb.Scenario().Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// alertsOf parses Falco JSON lines.
func alertsOf(t *testing.T, out string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" || l[0] != '{' {
			continue
		}
		a, err := falcojson.Unmarshal([]byte(l))
		if err != nil {
			t.Fatalf("not Falco JSON: %v\n%s", err, l)
		}
		got[a.GetRule()] = a.GetOutput()
	}
	return got
}

// TestScapReplayFiresFalcoRules: a .scap capture (built to libscap's
// format) replayed through Falco's stable rules, unchanged, fires the rule
// the recorded action matches, with libsinsp's process and fd fields —
// through `replay` and through Falco's own `-e`.
func TestScapReplayFiresFalcoRules(t *testing.T) {
	rulesFile, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		if os.Getenv("HARRIER_REQUIRE_ALL") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	file := scapFile(t)
	code, out, errOut := runCLI(t, "replay", "-r", rulesFile, file)
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, errOut)
	}
	got := alertsOf(t, out)
	const rule = "Read sensitive file untrusted"
	o, ok := got[rule]
	if !ok {
		t.Fatalf("%q did not fire; alerts %v\n%s", rule, got, errOut)
	}
	for _, want := range []string{"file=/etc/shadow", "process=cat", "parent=bash", "command=cat shadow"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q: %s", want, o)
		}
	}

	// Falco's command line: -c falco.yaml -r RULES -e CAPTURE.
	code, out, errOut = runCLI(t, "-c", shared(t, "config/falco.yaml"), "-r", rulesFile, "-e", file,
		"-o", "json_output=true", "-o", "syslog_output.enabled=false", "-o", "log_level=error")
	if code != 0 {
		t.Fatalf("-e: exit %d\n%s", code, errOut)
	}
	if _, ok := alertsOf(t, out)[rule]; !ok {
		t.Fatalf("-e: %q did not fire; stdout:\n%s\nstderr:\n%s", rule, out, errOut)
	}
}

// TestFalcoValidateJSON: -V under json_output prints Falco's load result
// shape, one result per file, with LOAD_* codes.
func TestFalcoValidateJSON(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("- rule: r\n  desc: d\n  condition: evt.type=openat and fd.name=/x\n  output: o %proc.name\n  priority: WARNING\n"), 0o600)
	_ = os.WriteFile(bad, []byte("- rule: b\n  desc: d\n  condition: evt.type=openat and no.such.field=1\n  output: o\n  priority: WARNING\n"), 0o600)
	cfg := filepath.Join(dir, "falco.yaml")
	_ = os.WriteFile(cfg, []byte("json_output: true\nrules_files: []\n"), 0o600)

	code, out, _ := runCLI(t, "-c", cfg, "-V", good, "-V", bad)
	if code != 1 {
		t.Errorf("exit %d with an invalid file, want 1", code)
	}
	var res struct {
		Results []struct {
			Name       string `json:"name"`
			Successful bool   `json:"successful"`
			Errors     []struct {
				Code, CodeDesc, Message string
				Context                 struct {
					Locations []struct {
						ItemType string `json:"item_type"`
						ItemName string `json:"item_name"`
						Position struct {
							Name         string
							Line, Column int
						}
					}
				}
			} `json:"errors"`
			Warnings []json.RawMessage `json:"warnings"`
		} `json:"falco_load_results"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res.Results) != 2 || res.Results[0].Name != good || !res.Results[0].Successful || res.Results[1].Successful {
		t.Fatalf("results: %s", out)
	}
	e := res.Results[1].Errors
	if len(e) == 0 || !strings.HasPrefix(e[0].Code, "LOAD_ERR_") || e[0].CodeDesc == "" ||
		e[0].Context.Locations[0].ItemName != "b" || e[0].Context.Locations[0].ItemType != "rule" ||
		e[0].Context.Locations[0].Position.Name != bad {
		t.Errorf("error item: %s", out)
	}
	if res.Results[0].Warnings == nil {
		t.Error(`"warnings" must be [] , not null`)
	}

	// Text form, exit 0 for a valid file.
	code, out, _ = runCLI(t, "--validate", good)
	if code != 0 || !strings.Contains(out, good+": Ok") {
		t.Errorf("text -V: exit %d\n%s", code, out)
	}
}

func TestFalcoInformationalFlags(t *testing.T) {
	rulesFile, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		t.Skip(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"-L", []string{"-r", rulesFile, "-L"}, 0, "Read sensitive file untrusted"},
		{"-l", []string{"-r", rulesFile, "-l", "Terminal shell in container"}, 0, "A shell was used as the entrypoint"},
		{"-l unknown", []string{"-r", rulesFile, "-l", "No such rule"}, 1, ""},
		{"-L json", []string{"-r", rulesFile, "-L", "--output-format", "json"}, 0, `"rules":[{"info":{"name":`},
		{"--list", []string{"--list"}, 0, "Source: k8s_audit"},
		{"--list=syscall", []string{"--list=syscall"}, 0, "proc.name"},
		{"--list-events", []string{"--list-events"}, 0, "openat\n"},
		{"--version", []string{"--version"}, 0, "harrier-sensor"},
		{"--version json", []string{"--version", "--output-format", "json"}, 0, `"engine_version_semver"`},
		{"bad source", []string{"-r", rulesFile, "--disable-source", "k8saudit", "--check"}, 2, ""},
		{"check", []string{"-r", rulesFile, "--disable-source", "k8s_audit", "--check"}, 0, "rules OK"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// An empty Harrier config: no /etc file of this host is read.
			cfg := filepath.Join(t.TempDir(), "sensor.yaml")
			_ = os.WriteFile(cfg, []byte("{}\n"), 0o600)
			code, out, errOut := runCLI(t, append([]string{"-c", cfg}, c.args...)...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d (want %d), stdout lacks %q:\n%.600s\nstderr: %.600s", code, c.code, c.want, out, errOut)
			}
		})
	}
}

// TestRunForSeconds: -M stops the sensor after that many seconds; with
// Falco's nodriver engine and only the webserver it needs no privilege.
func TestRunForSeconds(t *testing.T) {
	rulesFile, err := livetest.SharedFalcoRules("falco_rules.yaml")
	if err != nil {
		t.Skip(err)
	}
	start := time.Now()
	code, _, errOut := runCLI(t, "-c", shared(t, "config/falco.yaml"), "-r", rulesFile, "-M", "1",
		"-o", "engine.kind=nodriver", "-o", "webserver.listen_address=127.0.0.1", "-o", "webserver.listen_port=0",
		"-o", "syslog_output.enabled=false", "-o", "watch_config_files=false")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if d := time.Since(start); d < time.Second || d > 20*time.Second {
		t.Errorf("ran %v, want about 1s", d)
	}
}

func TestConfigConvertCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "config", "convert", shared(t, "config/falco.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"/etc/falco/falco_rules.yaml", "listen: 0.0.0.0:8765", "healthz_path: /healthz", "syslog:\n    enabled: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("converted configuration lacks %q:\n%s", want, out)
		}
	}
	if code, _, _ := runCLI(t, "config", "convert"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}
