package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesTestCommand(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.yaml")
	if err := os.Mkdir(filepath.Join(dir, "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := filepath.Join(dir, "tests", "t.yaml")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(rules, `
- rule: Shadow Read
  desc: reads of /etc/shadow
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "shadow read by %proc.name"
  priority: WARNING
`)
	write(tests, `
rules: [../r.yaml]
cases:
  - name: cat reads shadow
    syscall: {evt.type: openat, fd.name: /etc/shadow, proc.name: cat}
    fire: [Shadow Read]
  - name: cat reads passwd
    syscall: {evt.type: openat, fd.name: /etc/passwd, proc.name: cat}
    fire: [Shadow Read]
`)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append([]string{"rules", "test"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run(tests)
	if code != 1 || !strings.Contains(out, "FAIL  "+tests+":7: cat reads passwd\n      - Shadow Read (expected to fire, did not)") ||
		!strings.Contains(out, "2 cases: 1 passed, 1 failed") {
		t.Errorf("failing run: code %d, output:\n%s", code, out)
	}
	write(tests, `
cases:
  - name: cat reads shadow
    syscall: {evt.type: openat, fd.name: /etc/shadow, proc.name: cat}
    fire: [Shadow Read]
`)
	if code, out, errs := run(tests); code != 2 || !strings.Contains(errs, "names no rules files") {
		t.Errorf("no rules: code %d, out %q, stderr %q", code, out, errs)
	}
	if code, out, errs := run("-r", rules, "-v", filepath.Join(dir, "tests")); code != 0 || !strings.Contains(out, "PASS  "+tests) {
		t.Errorf("directory with -r: code %d, out %q, stderr %q", code, out, errs)
	}
	if code, out, _ := run("-json", "-r", rules, tests); code != 0 ||
		!strings.Contains(out, `"case":"cat reads shadow","line":3,"status":"PASS","events":1,"fired":{"Shadow Read":1}`) {
		t.Errorf("-json: code %d, out %q", code, out)
	}
	if code, _, _ := run(); code != 2 {
		t.Errorf("no arguments: code %d, want 2", code)
	}
	if code, _, errs := run(filepath.Join(dir, "nope.yaml")); code != 2 || !strings.Contains(errs, "nope.yaml") {
		t.Errorf("missing file: code %d, stderr %q", code, errs)
	}
}
