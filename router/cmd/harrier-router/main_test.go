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
