package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestRulesDocCommand checks that the command regenerates the committed
// docs/rules.md byte for byte.
func TestRulesDocCommand(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"rules", "doc", "-root", root,
		"-r", filepath.Join(root, "rules", "k8s_audit.yaml"), "-r", filepath.Join(root, "rules", "syscall.yaml")}, &out, &errb)
	if code != 0 {
		t.Fatalf("code %d, stderr %s", code, errb.String())
	}
	want, err := os.ReadFile(filepath.Join(root, "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Error("rules doc output differs from docs/rules.md: run make rules-doc")
	}
	if code := dispatch(context.Background(), []string{"rules", "doc"}, &out, &errb); code != 2 {
		t.Errorf("no -r: code %d, want 2", code)
	}
}
