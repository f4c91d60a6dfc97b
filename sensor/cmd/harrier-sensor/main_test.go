package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/harrier-security/harrier/sensor/internal/config"
)

func TestDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrier-sensor ") {
		t.Fatalf("version: code %d, out %q", code, out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"no-such"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "no-such"`) {
		t.Fatalf("unknown command: code %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "version") {
		t.Fatalf("usage: code %d, out %q", code, out.String())
	}
}

func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrier-sensor ") ||
			strings.Contains(out.String(), "(devel)") {
			t.Errorf("%v: %d %q %q", args, code, out.String(), errb.String())
		}
	}
}

// A bare `harrier-sensor run` (no configuration file, no rules configured)
// uses Harrier's default rules built into the binary and says so.
func TestRunWithoutRulesUsesBuiltInDefaults(t *testing.T) {
	for _, f := range []string{config.DefaultFile, "/etc/falco/falco.yaml"} {
		if _, err := os.Stat(f); err == nil {
			t.Skipf("%s exists here: not a bare run", f)
		}
	}
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"run", "--check"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), "configuration and rules OK") {
		t.Fatalf("run --check: %d %q %q", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "using Harrier's default rules built into this binary") ||
		!strings.Contains(errb.String(), "(built-in)/syscall.yaml") {
		t.Errorf("the log does not say the built-in rules are used: %q", errb.String())
	}
	// The built-in rules are the repository's rules/*.yaml: every rule of
	// them is loaded.
	want := 0
	for _, f := range []string{"../../../rules/k8s_audit.yaml", "../../../rules/syscall.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		want += strings.Count(string(b), "\n- rule: ")
	}
	if !strings.Contains(out.String(), fmt.Sprintf("(%d rules,", want)) {
		t.Errorf("run --check: %q, want %d rules", out.String(), want)
	}
}
