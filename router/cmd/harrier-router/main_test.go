package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("outputs: {webhook: {soc: {address: 'https://u:pw-secret@soc.example/x', minimumpriority: error}}}\n"), 0o600)
	os.WriteFile(bad, []byte("webhook: {address: http://x, minimumpriority: loud}\n"), 0o600)

	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "validate", good}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "webhook.soc") || !strings.Contains(out.String(), "minimumpriority=Error") || strings.Contains(out.String(), "pw-secret") {
		t.Fatalf("validate good: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := dispatch(context.Background(), []string{"config", "validate", bad}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "webhook.minimumpriority") {
		t.Fatalf("validate bad: %d %q", code, errb.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"config", "show", good}, &out, &errb); code != 0 || strings.Contains(out.String(), "pw-secret") ||
		!strings.Contains(out.String(), "soc.example") {
		t.Fatalf("show: %d %q", code, out.String())
	}
	if code := dispatch(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command: %d", code)
	}
}

func TestVersionAndFlags(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "harrier-router ") ||
			strings.Contains(out.String(), "(devel)") {
			t.Errorf("%v: %d %q %q", args, code, out.String(), errb.String())
		}
	}
	// -c is falcosidekick's flag for the configuration file: the router
	// reads the file it names (here a missing one, so it stops at once).
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	for _, args := range [][]string{{"-c", missing}, {"run", "-c", missing}, {"run", "--config", missing}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 1 || !strings.Contains(errb.String(), missing) {
			t.Errorf("%v: %d %q", args, code, errb.String())
		}
	}
	// config validate/show take --help as a request for help, not a file.
	for _, args := range [][]string{{"config", "validate", "--help"}, {"config", "validate", "-h"}, {"config", "show", "--help"}} {
		var out, errb bytes.Buffer
		if code := dispatch(context.Background(), args, &out, &errb); code != 0 || !strings.Contains(out.String(), "usage: harrier-router config") {
			t.Errorf("%v: %d %q %q", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := dispatch(context.Background(), []string{"config", "validate", "--strict"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown flag --strict") {
		t.Errorf("unknown flag: %d %q", code, errb.String())
	}
}
