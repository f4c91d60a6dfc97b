package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/proto/falcojson"
	"github.com/harrier-security/harrier/sensor/internal/engine/sources"
	"github.com/harrier-security/harrier/sensor/internal/syscall/capturefile"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesValidate(t *testing.T) {
	k8s := shared(t, "rules/k8s_audit_rules.yaml")
	if code, out, errs := run("rules", "validate", "-r", k8s); code != 0 || !strings.Contains(out, "ok: 48 rules compiled") {
		t.Fatalf("valid file: code %d out %q err %q", code, out, errs)
	}
	bad := writeFile(t, "bad.yaml", "- rule: R\n  desc: d\n  condition: ka.verb = get and ka.vrb = x\n  output: o\n  priority: INFO\n  source: k8s_audit\n  junk: 1\n")
	code, _, errs := run("rules", "validate", "-r", k8s, "-r", bad)
	if code != 1 {
		t.Errorf("invalid file: code %d", code)
	}
	if !strings.Contains(errs, bad+`:3:32: rule "R": `) || !strings.Contains(errs, "ka.vrb") {
		t.Errorf("error not located: %q", errs)
	}
	if !strings.Contains(errs, bad+`:7:3: warning: rule "R": unknown key "junk"`) {
		t.Errorf("warning missing: %q", errs)
	}
	code, out, _ := run("rules", "validate", "--json", "-r", bad)
	var res struct {
		Valid       bool
		Diagnostics []jsonDiagnostic
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.Valid {
		t.Fatalf("--json: code %d valid %v err %v: %s", code, res.Valid, err, out)
	}
	found := false
	for _, d := range res.Diagnostics {
		found = found || (d.Severity == "error" && d.Line == 3 && d.Column == 32 && d.Kind == "rule" && d.Name == "R")
	}
	if !found {
		t.Errorf("--json diagnostics %+v", res.Diagnostics)
	}
	for _, cmd := range []string{"validate", "list"} {
		if code, _, errOut := run("rules", cmd); code != 2 || !strings.Contains(errOut, "usage: harrier-sensor rules "+cmd+" -r FILE") {
			t.Errorf("rules %s without files: code %d, stderr %q", cmd, code, errOut)
		}
	}
}

func TestRulesListAndFields(t *testing.T) {
	k8s := shared(t, "rules/k8s_audit_rules.yaml")
	code, out, _ := run("rules", "list", "-r", k8s)
	if code != 0 || !strings.Contains(out, "Create Privileged Pod") || strings.Count(out, "\n") != 49 {
		t.Errorf("rules list: code %d, %d lines", code, strings.Count(out, "\n"))
	}
	code, out, _ = run("rules", "list", "--json", "-r", k8s)
	var rows []struct {
		Name, Source, Priority string
		Enabled                bool
		Tags                   []string
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 48 || rows[0].Priority == "" || rows[0].Source != "k8s_audit" {
		t.Errorf("rules list --json: %v %d rows", err, len(rows))
	}
	code, out, _ = run("fields", "--source", "k8s_audit")
	if code != 0 || !strings.Contains(out, "ka.uri.param[KEY]") || !regexp.MustCompile(`ka.req.pod.containers.privileged\[INDEX\]\? +string \(list\)`).MatchString(out) {
		t.Errorf("fields: code %d\n%s", code, out)
	}
	code, out, _ = run("fields", "--json")
	var srcs []struct {
		Source string
		Fields []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &srcs); err != nil || code != 0 || len(srcs) == 0 || len(srcs[0].Fields) < 50 {
		t.Errorf("fields --json: %v", err)
	}
	if code, _, _ := run("fields", "--source", "nope"); code != 2 {
		t.Errorf("unknown source: code %d", code)
	}
}

func TestReplayAudit(t *testing.T) {
	k8s := shared(t, "rules/k8s_audit_rules.yaml")
	in := shared(t, "k8s_audit/create_configmap_sensitive_values.json")
	code, out, errs := run("replay", "-r", k8s, "--hostname", "h1", in, shared(t, "k8s_audit/exec_pod.json"))
	if code != 0 {
		t.Fatalf("replay: code %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 || !strings.Contains(errs, "replayed 7 events, 7 alerts") {
		t.Fatalf("%d alerts, stderr %q", len(lines), errs)
	}
	for i, l := range lines {
		a, err := falcojson.Unmarshal([]byte(l))
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		want := "Create/Modify Configmap With Private Credentials"
		if i == 6 {
			want = "Attach/Exec Pod"
		}
		if a.GetRule() != want || a.GetHostname() != "h1" || a.GetSource() != "k8s_audit" || a.GetId() == "" {
			t.Errorf("line %d: %s", i, l)
		}
	}
	// With --rule-matching all the activity rule fires too.
	if _, out, _ := run("replay", "-r", k8s, "--rule-matching", "all", in); strings.Count(out, "\n") != 12 {
		t.Errorf("all: %d alerts", strings.Count(out, "\n"))
	}
	// Minimum priority leaves out the Warning rule.
	if _, out, _ := run("replay", "-r", k8s, "--priority", "error", in); out != "" {
		t.Errorf("priority error: %s", out)
	}
	bad := writeFile(t, "bad.json", "{\"kind\":\"Event\",\"auditID\":\"x\"}\n{\"kind\":\n")
	if code, _, errs := run("replay", "-r", k8s, bad); code != 1 || !strings.Contains(errs, "line 2") {
		t.Errorf("bad input: code %d stderr %q", code, errs)
	}
	// Capture files are recognised; they replay once the build has the
	// syscall source (sources.Registries).
	capture := writeFile(t, "c.cap", capturefile.Magic+"\x01\x00rest")
	if _, ok := sources.Registries()["syscall"]; !ok {
		if code, _, errs := run("replay", "-r", k8s, capture); code != 1 || !strings.Contains(errs, "Harrier capture file: this build has no syscall source") {
			t.Errorf("capture input: code %d stderr %q", code, errs)
		}
	}
	junk := writeFile(t, "junk.bin", "\x00\x01junk")
	if code, _, errs := run("replay", "-r", k8s, junk); code != 1 || !strings.Contains(errs, "unknown input format") {
		t.Errorf("junk input: code %d stderr %q", code, errs)
	}
}
